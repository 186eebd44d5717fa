"""Audit: the global log with its seals, the chain's verification, signed checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from api.auth import CurrentActor
from api.bootstrap import County
from api.paging import CleanId
from api.schemas import INT64_MAX
from api.state import county_of
from application.audit import MAX_PAGE, Audit, AuditEvent
from application.hash_chain import Checkpoint, Verification

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def audit_of(request: Request) -> Audit:
    county: County = county_of(request)
    return county.audit


AuditLog = Annotated[Audit, Depends(audit_of)]


class Head(BaseModel):
    position: int
    hash: str | None


class VerificationView(BaseModel):
    ok: bool
    events_checked: int
    head: Head
    first_bad_position: int | None
    problem: str | None
    checkpoints_checked: int

    @classmethod
    def of(cls, result: Verification) -> VerificationView:
        return cls(
            ok=result.ok,
            events_checked=result.events_checked,
            head=Head(
                position=result.head_position,
                hash=result.head_hash.hex() if result.head_position else None,
            ),
            first_bad_position=result.first_bad_position,
            problem=result.problem,
            checkpoints_checked=result.checkpoints_checked,
        )


class CheckpointView(BaseModel):
    position: int
    hash: str
    signed_at: datetime
    signature: str
    key_id: str

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> CheckpointView:
        return cls(
            position=checkpoint.position,
            hash=checkpoint.hash.hex(),
            signed_at=checkpoint.signed_at,
            signature=checkpoint.signature.hex(),
            key_id=checkpoint.key_id,
        )


class AuditEventView(BaseModel):
    position: int
    aggregate_type: str
    aggregate_id: str
    version: int
    event_type: str
    recorded_at: datetime
    actor: str
    data: dict[str, Any]
    hash: str | None


@router.get("/events", response_model=list[AuditEventView])
def audit_events(
    actor: CurrentActor,
    audit: AuditLog,
    after: Annotated[
        int, Query(ge=0, le=INT64_MAX, description="Events after this log position")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = 100,
    aggregate_id: Annotated[
        str | None, Query(max_length=100, description="One aggregate's events"), CleanId
    ] = None,
    actor_id: Annotated[
        str | None,
        Query(alias="actor", max_length=100, description="Only events recorded by this account"),
        CleanId,
    ] = None,
) -> list[AuditEvent]:
    """The global log in order, each event with its seal; personal data masked."""
    return audit.events(actor, after, limit, aggregate_id, actor_id)


@router.get("/verify", response_model=VerificationView)
def verify(actor: CurrentActor, audit: AuditLog) -> VerificationView:
    """Recompute the hash chain over the whole log; the first bad position, if any."""
    audit.check_audits(actor)
    return VerificationView.of(audit.verify())


@router.get("/checkpoints", response_model=list[CheckpointView])
def checkpoints(actor: CurrentActor, audit: AuditLog) -> list[CheckpointView]:
    """Every signed checkpoint: a position, its seal, when and by which key it was signed."""
    audit.check_audits(actor)
    return [CheckpointView.of(c) for c in audit.known_checkpoints()]
