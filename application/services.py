"""The county's services, wired over one casebook."""

from __future__ import annotations

from dataclasses import dataclass

from application.case_index import CaseIndex
from application.casebook import Casebook
from application.grievances import Grievances
from application.households import Households
from application.organisation import Organisation
from application.ports import Clock, PersonalDataVault
from application.visits import Visits
from domain.deadlines import PolicyBook


@dataclass
class CaseServices:
    book: Casebook
    clock: Clock
    vault: PersonalDataVault
    organisation: Organisation
    households: Households
    visits: Visits
    grievances: Grievances
    index: CaseIndex

    @classmethod
    def wire(
        cls, book: Casebook, vault: PersonalDataVault, clock: Clock, policies: PolicyBook
    ) -> CaseServices:
        index = CaseIndex(book)
        organisation = Organisation(book, clock, index)
        households = Households(book, organisation, vault, clock)
        return cls(
            book=book,
            clock=clock,
            vault=vault,
            organisation=organisation,
            households=households,
            visits=Visits(book, households, clock),
            grievances=Grievances(book, households, policies, clock),
            index=index,
        )
