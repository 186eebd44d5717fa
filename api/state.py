"""What the running app holds: the county, opened in the lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.bootstrap import County
from application.services import CaseServices


def county_of(request: Request) -> County:
    county: County = request.app.state.county
    return county


def services_of(request: Request) -> CaseServices:
    return county_of(request).services


Services = Annotated[CaseServices, Depends(services_of)]
