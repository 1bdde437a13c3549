"""The budgets' spend side: what today and this month cost (registered with ``zerg_site.budget``
at ``ready()``, so commis and Oikos can ask without importing spend), and ``/api/budget``, where
the owner reads and sets the daily and monthly budgets from Settings."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema
from ninja.errors import HttpError

from spend import query
from zerg_site import budget
from zerg_site.schemas import BudgetOut, owner

router = Router(tags=["budget"])


def spent_now() -> tuple[tuple[float, bool], tuple[float, bool]]:
    """``((today, partial), (this month, partial))`` in USD over the owner's days."""
    zone = query.owner_zone()
    today = datetime.now(zone).date()
    return query.total(today, today, zone), query.total(today.replace(day=1), today, zone)


class BudgetIn(Schema):
    """Both budgets in USD; null (or leaving one out) is no budget. ``use_config: true`` forgets the
    saved values and goes back to ``[budget]`` in config.toml / the environment."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    use_config: bool = False


def _amount(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if not (0 < value < 1e9):  # also NaN
        raise HttpError(
            400,
            f"{name} must be an amount above 0 in US dollars, such as 10 or 2.50 (null for no budget), got {value!r}",
        )
    return round(float(value), 2)


@router.get("", response=owner(BudgetOut))
def get_budget(request):
    """Today's and this month's spend (the owner's days) against the budgets, and where they come from."""
    return budget.status().as_dict()


@router.put("", response=owner(BudgetOut, 400, 422))
def put_budget(request, body: BudgetIn):
    """Set the budgets (they win over the config from now on), or ``use_config`` to go back to it."""
    if body.use_config:
        budget.reset()
        decision = {"action": "reset", "source": "config"}
    else:
        daily, monthly = _amount(body.daily_usd, "daily_usd"), _amount(body.monthly_usd, "monthly_usd")
        budget.save(daily, monthly)
        decision = {"action": "set", "daily_usd": daily, "monthly_usd": monthly}
    budget.decided("changed", decision)
    return budget.status().as_dict()
