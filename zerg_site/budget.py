"""Spend budgets: the owner's daily and monthly limits, and whether today's spend is over them.

Why here, in the core: commis (Sauron, the spawn API) and Oikos must ask "is the day's or the
month's spend over its budget?", but the spend query reads every app (spend sits above them).
So the question lives here and the spend app answers it: it registers its total at ``ready()``
(:func:`register_spent`), as the Forum registers its agent tools with commis. Without the spend
app (or before it is ready) nothing is spent, so nothing is ever refused for it.

Limits: the row saved in Settings (``BudgetSetting``, ``PUT /api/budget``) wins; until the owner
saves one, ``[budget] daily_usd`` / ``monthly_usd`` (``ZERG_BUDGET_DAILY_USD`` /
``ZERG_BUDGET_MONTHLY_USD``) are the default. None means no budget.

Each budget decision is published on the event log (:func:`decided`): on the topic of what it
concerns (the job, the schedule, the Oikos thread) and on ``budget`` for a feed of them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from zerg_site.events import publish
from zerg_site.models import BudgetSetting

log = logging.getLogger("zerg.budget")

TOPIC = "budget"

# () -> ((spent today, partial), (spent this month, partial)) in USD, the owner's days
_spent: Callable[[], tuple[tuple[float, bool], tuple[float, bool]]] | None = None


def register_spent(fn: Callable[[], tuple[tuple[float, bool], tuple[float, bool]]]) -> None:
    """The spend app's answer to "how much today and this month" (called at its ``ready()``)."""
    global _spent
    _spent = fn


def money(amount: float | None) -> str:
    """``$12.30``; a job's fractions of a cent as ``$0.00021`` (else every small job reads $0.00)."""
    if amount is None:
        return "no budget"
    return f"${amount:,.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.2g}"


def limits() -> tuple[float | None, float | None, str]:
    """``(daily, monthly, source)``: the Settings row when saved (source "settings"), else the config."""
    row = BudgetSetting.objects.filter(id=1).first()
    if row is not None:
        return row.daily_usd, row.monthly_usd, "settings"
    zerg = getattr(settings, "ZERG", None)
    return getattr(zerg, "budget_daily_usd", None), getattr(zerg, "budget_monthly_usd", None), "config"


def save(daily: float | None, monthly: float | None) -> None:
    """The owner's budgets from Settings (checked by the caller: positive or None)."""
    BudgetSetting.objects.update_or_create(
        id=1, defaults={"daily_usd": daily, "monthly_usd": monthly, "updated_at": timezone.now()}
    )


def reset() -> None:
    """Forget the Settings row: ``[budget]`` in the config applies again."""
    BudgetSetting.objects.filter(id=1).delete()


@dataclass(frozen=True)
class Period:
    name: str  # "daily" | "monthly"
    budget: float | None
    spent: float
    partial: bool

    @property
    def over(self) -> bool:
        return self.budget is not None and self.spent >= self.budget

    def as_dict(self) -> dict:
        return {
            "budget_usd": self.budget,
            "spent_usd": round(self.spent, 6),
            "partial": self.partial,
            "over": self.over,
        }

    def sentence(self) -> str:
        label = {"daily": "today's", "monthly": "this month's"}[self.name]
        more = "at least " if self.partial else ""
        return f"{label} spend {more}{money(self.spent)} is over its {self.name} budget {money(self.budget)}"


@dataclass(frozen=True)
class Status:
    daily: Period
    monthly: Period
    source: str

    @property
    def over(self) -> bool:
        return self.daily.over or self.monthly.over

    def reason(self) -> str:
        """One sentence with the figures, e.g. "today's spend $12.30 is over its daily budget $10.00"."""
        return " and ".join(p.sentence() for p in (self.daily, self.monthly) if p.over)

    def as_dict(self) -> dict:
        return {
            "currency": "USD",
            "daily": self.daily.as_dict(),
            "monthly": self.monthly.as_dict(),
            "over": self.over,
            "reason": self.reason(),
            "source": self.source,
        }


def status() -> Status:
    """The limits and what is spent against them now (no spend app registered: nothing spent)."""
    daily, monthly, source = limits()
    (day, day_partial), (month, month_partial) = ((0.0, False), (0.0, False))
    if _spent is not None and (daily is not None or monthly is not None):
        (day, day_partial), (month, month_partial) = _spent()
    return Status(Period("daily", daily, day, day_partial), Period("monthly", monthly, month, month_partial), source)


def job_over(cost: float | None, budget: float | None) -> bool:
    """A job's own budget is passed once its known cost reaches it."""
    return budget is not None and cost is not None and cost >= budget


def decided(kind: str, payload: dict, *topics: str) -> None:
    """Publish one budget decision (``budget.<kind>``) on ``budget`` and on each topic it concerns."""
    for topic in dict.fromkeys((TOPIC, *topics)):
        try:
            publish(topic, f"budget.{kind}", payload)
        except Exception:  # the decision stands; a lost event must not undo it
            log.exception("budget: could not publish %s on %s", kind, topic)
