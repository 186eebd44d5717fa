"""The county's services, wired over one casebook and its read models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from application.case_lists import CaseLists
from application.casebook import Casebook
from application.casework_model import CaseworkModel
from application.deadline_watch import DeadlineWatch
from application.grievances import Grievances
from application.households import Households
from application.organisation import Organisation
from application.organisation_model import OrganisationModel
from application.policies import load_star_book
from application.ports import Clock, IdNumberIndex, PersonalDataVault
from application.projections import Projections
from application.read_model import LogReader, ReadStore, micros
from application.reports import Reports
from application.visits import Visits
from domain.deadlines import PolicyBook
from domain.stars import StarBook


@dataclass
class CaseServices:
    book: Casebook
    clock: Clock
    vault: PersonalDataVault
    organisation: Organisation
    households: Households
    visits: Visits
    grievances: Grievances
    projections: Projections
    reports: Reports
    deadlines: DeadlineWatch

    @classmethod
    def wire(
        cls,
        book: Casebook,
        vault: PersonalDataVault,
        clock: Clock,
        policies: PolicyBook,
        read_store: ReadStore,
        id_index: IdNumberIndex,
        timezone: str = "Asia/Shanghai",
        scratch_store: Callable[[], ReadStore] | None = None,
        read_log: LogReader | None = None,
        stars: StarBook | None = None,
    ) -> CaseServices:
        casework, organisation_model = CaseworkModel(), OrganisationModel()
        projections = Projections(
            book, read_store, [organisation_model, casework], read_log=read_log
        )
        projections.prepare()
        organisation = Organisation(book, clock, lambda: lists.community_codes())
        lists = CaseLists(read_store, casework, organisation_model, organisation.access)
        households = Households(book, organisation, vault, clock, lists, id_index)
        households.settle_reads = lambda: projections.settle(None)

        def rebuild_at(moment: datetime) -> ReadStore:
            """Read models of what the log held at ``moment``, in a throwaway store."""
            if scratch_store is None:
                raise ValueError("no scratch store to rebuild read models as of a moment")
            store = scratch_store()
            past = Projections(
                book,
                store,
                [OrganisationModel(), CaseworkModel()],
                until=micros(moment),
                read_log=read_log,
            )
            try:
                past.prepare()
                past.catch_up()
            finally:
                past.close()
            return store

        reports = Reports(
            read_store,
            casework,
            organisation_model,
            organisation.access,
            clock,
            timezone,
            rebuild_at if scratch_store is not None else None,
            stars or load_star_book(),
            policies,
            households.texts.reveal,
        )
        return cls(
            book=book,
            clock=clock,
            vault=vault,
            organisation=organisation,
            households=households,
            visits=Visits(book, households, clock),
            grievances=Grievances(book, households, policies, clock),
            projections=projections,
            reports=reports,
            deadlines=DeadlineWatch(
                book, projections, read_store, casework, policies, clock, ZoneInfo(timezone)
            ),
        )
