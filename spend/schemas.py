"""Response schemas of ``/api/spend`` (``spend.query.Report.as_dict()``)."""

from __future__ import annotations

from typing import Literal

from zerg_site.schemas import Out


class SpendRowOut(Out):
    """One group: a day (``YYYY-MM-DD``), model, project, source or device ("" when not known)."""

    key: str
    cost: float  # USD at list price; with ``partial``, at least this much
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    sessions: int  # sessions, Oikos turns and commis jobs counted in it
    partial: bool  # some of its tokens are of a model with no known price


class SpendOut(Out):
    currency: Literal["USD"]
    total: float
    partial: bool
    rows: list[SpendRowOut]
