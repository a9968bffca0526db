"""Rules of the add-customer and claim-customer flows that are not eligibility: what may be chosen together."""

from collections.abc import Sequence
from enum import StrEnum

from app.domain.enums import PayType

MAX_ENGAGEMENTS_PER_NOMINATION = 20
MAX_FRIENDLY_NAME = 200
MAX_MISMATCH_REASON = 1000


class SelectionProblem(StrEnum):
    NO_ENGAGEMENT = "Choose at least one engagement."
    TOO_MANY_ENGAGEMENTS = f"Choose at most {MAX_ENGAGEMENTS_PER_NOMINATION} engagements."
    MIXED_PAY_TYPES = "Fixed-pay and variable-pay engagements cannot be chosen together."
    SINGLE_ENGAGEMENT_FOR_VARIABLE_PAY = "A variable-pay engagement must be chosen on its own."
    HOURS_REQUIRED = "State the hours needed for a variable-pay engagement."
    HOURS_NOT_ALLOWED = "Hours are stated for variable-pay engagements only."
    VARIABLE_PAY_NOT_CLAIMABLE = (
        "Variable-pay engagements are nominated with Add customer and an MSX opportunity ID."
    )


def selection_problems(pay_types: Sequence[PayType], hours: int | None) -> list[SelectionProblem]:
    """DOMAIN.md: several fixed-pay engagements may be chosen at once; variable pay exactly one, with hours."""
    if not pay_types:
        return [SelectionProblem.NO_ENGAGEMENT]
    if len(pay_types) > MAX_ENGAGEMENTS_PER_NOMINATION:
        return [SelectionProblem.TOO_MANY_ENGAGEMENTS]
    variable = [p for p in pay_types if p is PayType.VARIABLE]
    if not variable:
        return [SelectionProblem.HOURS_NOT_ALLOWED] if hours is not None else []
    if len(variable) < len(pay_types):
        return [SelectionProblem.MIXED_PAY_TYPES]
    problems = []
    if len(variable) > 1:
        problems.append(SelectionProblem.SINGLE_ENGAGEMENT_FOR_VARIABLE_PAY)
    if hours is None:
        problems.append(SelectionProblem.HOURS_REQUIRED)
    return problems


def claim_selection_problems(pay_types: Sequence[PayType]) -> list[SelectionProblem]:
    """Decision (DOMAIN.md): claiming a known customer is for fixed-pay engagements only."""
    if any(p is PayType.VARIABLE for p in pay_types):
        return [SelectionProblem.VARIABLE_PAY_NOT_CLAIMABLE]
    return selection_problems(pay_types, None)
