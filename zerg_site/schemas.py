"""Response schemas shared by every app's API, and those of zerg_site's own routes.

Each route declares ``response=`` (see ``responses``), so ``/api/openapi.json`` says what the
server really returns and the SPA's types are generated from it (``frontend/src/api.gen.ts``).
A response schema is the single definition of its shape: the views return the same dicts as
before (the models' ``as_dict()``), ninja validates them against the schema, and ``Out``
forbids keys a schema does not declare, so a key added to ``as_dict()`` but not here fails the
tests (a 500 in the API tests and schemathesis) instead of leaving the contract silently.

Timestamps are ISO 8601 strings as ``isoformat()`` wrote them (typed ``str``, not ``datetime``:
ninja would re-format them, and the output must stay byte for byte what it was).
"""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict


class Out(Schema):
    """A response document: exactly the declared keys (a stray key is an error, not a leak)."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    """Every error answer: ``detail`` says what went wrong, in words for a person.

    A bad query or path parameter (400) also lists ninja's ``errors``; a body that does not
    fit its schema (422) has the list itself as ``detail`` (``ValidationErrorOut``).
    """

    detail: str
    errors: list[dict[str, Any]] | None = None


class ValidationErrorOut(Schema):
    """422: the request body does not fit its schema; ``detail`` lists each problem (pydantic's)."""

    detail: list[dict[str, Any]]


def responses(ok: Any, *errors: int, status: int = 200) -> dict:
    """``response=`` for a route: ``ok`` at ``status``, and ``ErrorOut`` for each error status
    it can answer (422 with ``ValidationErrorOut``). Owner routes add 401 themselves (``owner``)."""
    out: dict = {status: ok}
    for code in sorted(set(errors)):
        out[code] = ValidationErrorOut if code == 422 else ErrorOut
    return out


def owner(ok: Any, *errors: int, status: int = 200) -> dict:
    """``responses`` for a route behind the owner's auth: a missing or bad credential is a 401."""
    return responses(ok, 401, *errors, status=status)


class Ack(Out):
    ok: bool


# --- system (zerg_site/system_api.py)


class Slots(Out):
    max: int
    running: int
    queued: int


class HealthSlots(Out):
    """The health document's slot figures (no ``queued`` when the database is unreachable)."""

    max: int
    running: int
    queued: int | None = None


class HealthOut(Out):
    status: str
    version: str
    database: str
    worker_alive: bool
    commis_slots: HealthSlots


class HeartbeatOut(Schema):
    """A process's heartbeat: its fields, then the process's own ``info`` keys (the server's
    ``url`` and ``home``, a worker's ``workers`` and ``cluster``), whatever it recorded."""

    model_config = ConfigDict(extra="allow")

    name: str
    host: str
    pid: int
    alive: bool
    started_at: str
    last_seen: str
    url: str | None = None
    urls: list[str] | None = None  # the server's: every address a phone may open, ``url`` first
    unreachable: str | None = None  # the server's: why a phone cannot open ``url`` ("" when it can)
    port: int | None = None
    home: str | None = None
    workers: int | None = None
    cluster: str | None = None


class StatusOut(Out):
    version: str
    database: str
    server: HeartbeatOut | None
    workers: list[HeartbeatOut]
    worker_alive: bool
    commis_slots: Slots


class PingOut(Out):
    task_id: str


class EventOut(Out):
    id: int
    topic: str
    kind: str
    payload: Any
    created_at: str


class EventsOut(Out):
    events: list[EventOut]
    last_id: int


# --- what the server still lacks (zerg_site/setup_api.py)


class SetupItemOut(Out):
    name: str  # model, git, claude, codex, password
    status: str  # ok; warn: works without it; fail: a part of Zerg cannot run
    detail: str
    fix: str  # the command or setting that fixes it; "" when ok


class SetupOut(Out):
    complete: bool  # nothing is missing
    missing: list[SetupItemOut]  # the checks that are not ok, in the order to fix them
    checks: list[SetupItemOut]


# --- auth and tokens (zerg_site/auth/api.py)


class MeOut(Out):
    username: str


class TokenOut(Out):
    id: int
    name: str
    kind: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class NewTokenOut(TokenOut):
    """A token just made: the only time its secret is shown."""

    token: str


class DeviceTokenOut(NewTokenOut):
    """A device token just made, and the line that connects a laptop's Shipper with it."""

    server_url: str
    command: str  # zerg connect <server_url> --token <token> && zerg ship --install


class TokensOut(Out):
    tokens: list[TokenOut]


# --- the model in use (zerg_site/model_api.py)


class ModelOut(Out):
    configured: bool
    provider: str  # anthropic, openai (any OpenAI-compatible server), or "" when none is configured
    model: str
    base_url: str  # "" for the provider's default
    fix: str  # how to configure one, when none is


class ModelTestOut(Out):
    """One tiny request through the provider: ``ok`` and the reply's text, or ``detail`` saying why not."""

    ok: bool
    provider: str
    model: str
    reply: str  # model output: data, shown as text
    detail: str


# --- Web Push (zerg_site/push/api.py) and "Needs attention" (zerg_site/attention.py)


class PushKeyOut(Out):
    public_key: str


class PushSubscriptionOut(Out):
    id: int
    endpoint: str
    name: str
    created_at: str
    last_sent_at: str | None
    last_error: str


class PushStatusOut(Out):
    public_key: str
    kinds: dict[str, str]
    preferences: dict[str, bool]
    subscriptions: list[PushSubscriptionOut]


class PushRemovedOut(Out):
    removed: int


class PushPreferencesOut(Out):
    preferences: dict[str, bool]


class PushTestOut(Out):
    sent: int
    subscriptions: int


class AttentionItemOut(Out):
    key: str
    kind: Literal["interrupt", "blocked", "job_failed", "schedule_failed"]
    title: str
    detail: str
    url: str
    at: str | None
    dismissable: bool


class AttentionOut(Out):
    count: int
    items: list[AttentionItemOut]


class AttentionCountOut(Out):
    count: int


class SeenOut(Out):
    seen: int
    count: int


# --- budgets (zerg_site/budget.py; GET/PUT /api/budget, the 402 of a spawn over budget)


class BudgetPeriodOut(Out):
    """One budget and what is spent against it (``spent_usd`` is at least that much with ``partial``)."""

    budget_usd: float | None
    spent_usd: float
    partial: bool
    over: bool


class BudgetOut(Out):
    """Today's and this month's spend against the budgets; ``source``: where the limits come from
    (``settings``: saved by the owner, ``config``: ``[budget]`` in config.toml / the environment)."""

    currency: Literal["USD"]
    daily: BudgetPeriodOut
    monthly: BudgetPeriodOut
    over: bool
    reason: str
    source: Literal["settings", "config"]


class OverBudgetOut(Schema):
    """402: the day's or month's spend is over its budget; send ``override_budget: true`` to spawn anyway."""

    detail: str
    budget: BudgetOut


# --- responses that are not JSON (a job's log, a diff, an exported file)

TEXT = None  # ``response=`` status whose body the view writes itself; ``text_body`` documents it


def text_body(*media_types: str, binary: bool = False) -> dict:
    """``openapi_extra`` for a 200 that is a file or text, not JSON: its media types and a string schema."""
    schema = {"type": "string", "format": "binary"} if binary else {"type": "string"}
    return {"responses": {200: {"description": "OK", "content": {m: {"schema": schema} for m in media_types}}}}
