"""Full-text search over events: SQLite FTS5 (bm25) or Postgres tsvector + GIN (ts_rank_cd).

Both index message text, tool names, tool inputs and tool outputs (migration 0002 keeps
the index current on every insert/update/delete). Snippets come back HTML-escaped with
the matched terms wrapped in ``<mark>...</mark>``, safe to insert as HTML.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

START, STOP = "\ue000", "\ue001"  # private-use markers, swapped for <mark> after escaping
# ts_headline's parser drops what looks like an HTML tag or entity from the text it
# returns; hide <, > and & from it behind private-use characters and put them back.
PG_HIDDEN = "\ue002\ue003\ue004"
PG_UNHIDE = str.maketrans(PG_HIDDEN, "<>&")
TOKEN = re.compile(r'"([^"]*)"|(\S+)')
WORD = re.compile(r"\w+", re.UNICODE)
SORTS = ("relevance", "recency")


@dataclass
class Filters:
    provider: str | None = None
    project: str | None = None
    device: str | None = None
    branch: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    role: str | None = None
    tool: str | None = None
    kind: str | None = None
    session_id: int | None = None

    def where(self) -> tuple[list[str], list]:
        clauses, params = [], []
        for column, value in (("s.provider", self.provider), ("s.project", self.project), ("s.device", self.device),
                              ("s.git_branch", self.branch), ("e.role", self.role), ("e.tool_name", self.tool),
                              ("e.kind", self.kind), ("e.session_id", self.session_id)):
            if value not in (None, ""):
                clauses.append(f"{column} = %s")
                params.append(value)
        if self.since is not None:
            clauses.append("e.timestamp >= %s")
            params.append(self.since)
        if self.until is not None:
            clauses.append("e.timestamp < %s")
            params.append(self.until)
        return clauses, params


def fts5_query(q: str) -> str:
    """User input -> a safe FTS5 query: every word or "quoted phrase" must match (AND)."""
    parts = []
    for phrase, word in TOKEN.findall(q):
        words = WORD.findall(phrase if phrase else word)
        if words:
            parts.append('"' + " ".join(words) + '"')
    return " ".join(parts)


def render_snippet(raw: str | None) -> str:
    if not raw:
        return ""
    return html.escape(raw.translate(PG_UNHIDE)).replace(START, "<mark>").replace(STOP, "</mark>")


def _adapt(value):
    if isinstance(value, datetime) and connection.vendor == "sqlite":
        return connection.ops.adapt_datetimefield_value(value)
    return value


def search(q: str, filters: Filters | None = None, sort: str = "relevance", limit: int = 20,
           offset: int = 0) -> dict:
    """Hits, best first (or newest first): ``{"hits": [...], "has_more": bool}``."""
    filters = filters or Filters()
    limit = max(1, min(int(limit), 200))
    offset = max(0, int(offset))
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    if connection.vendor == "postgresql":
        rows = _postgres(q, filters, sort, limit + 1, offset)
    else:
        rows = _sqlite(q, filters, sort, limit + 1, offset)
    if rows is None:
        return {"hits": [], "has_more": False}
    hits = []
    for row in rows[:limit]:
        (event_id, session_id, ordinal, kind, role, tool_name, ts, snippet, score,
         provider, provider_sid, title, project) = row
        if isinstance(ts, str):
            ts = datetime.fromisoformat(ts)
        hits.append({
            "event_id": event_id, "session_id": session_id, "ordinal": ordinal, "kind": kind, "role": role,
            "tool_name": tool_name, "timestamp": ts.isoformat() if ts else None,
            "snippet": render_snippet(snippet), "score": float(score or 0),
            "session": {"id": session_id, "provider": provider, "provider_session_id": provider_sid,
                        "title": title, "project": project},
        })
    return {"hits": hits, "has_more": len(rows) > limit}


SESSION_COLUMNS = "s.provider, s.provider_session_id, s.title, s.project"


def _sqlite(q, filters, sort, limit, offset):
    match = fts5_query(q)
    if not match:
        return None
    clauses, params = filters.where()
    where = " AND ".join(["timeline_event_fts MATCH %s", *clauses])
    order = "score" if sort == "relevance" else "e.timestamp DESC, e.id DESC"
    # bm25 column weights: text, tool name, tool input, tool output (lower score = better).
    # The inner query ranks, filters and pages; snippet() (which re-reads and tokenizes the
    # document) then runs only for the page, not for every match.
    sql = f"""
        SELECT hit.id, hit.session_id, hit.ordinal, hit.kind, hit.role, hit.tool_name, hit.timestamp,
               snippet(timeline_event_fts, -1, '{START}', '{STOP}', '…', 16),
               hit.score, hit.provider, hit.provider_session_id, hit.title, hit.project
        FROM (
            SELECT e.id, e.session_id, e.ordinal, e.kind, e.role, e.tool_name, e.timestamp,
                   bm25(timeline_event_fts, 1.0, 2.0, 0.5, 0.4) AS score, {SESSION_COLUMNS}
            FROM timeline_event_fts
            JOIN timeline_event e ON e.id = timeline_event_fts.rowid
            JOIN timeline_session s ON s.id = e.session_id
            WHERE {where}
            ORDER BY {order}
            LIMIT %s OFFSET %s
        ) hit
        JOIN timeline_event_fts ON timeline_event_fts.rowid = hit.id
        WHERE timeline_event_fts MATCH %s
        ORDER BY {"hit.score" if sort == "relevance" else "hit.timestamp DESC, hit.id DESC"}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, *[_adapt(p) for p in params], limit, offset, match])
        rows = cursor.fetchall()
    return [(*r[:8], -r[8] if r[8] is not None else 0, *r[9:]) for r in rows]


def _postgres(q, filters, sort, limit, offset):
    if not WORD.search(q):
        return None
    clauses, params = filters.where()
    where = " AND ".join(["e.search @@ query", *clauses])
    order = "score DESC, e.id DESC" if sort == "relevance" else "e.timestamp DESC NULLS LAST, e.id DESC"
    options = f"StartSel={START}, StopSel={STOP}, MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=…"
    # The inner query ranks and pages; ts_headline (costly) runs only on the page.
    sql = f"""
        SELECT hit.id, hit.session_id, hit.ordinal, hit.kind, hit.role, hit.tool_name, hit.timestamp,
               ts_headline('english', translate(left(hit.body, 20000), '<>&', %s),
                           websearch_to_tsquery('english', %s), %s),
               hit.score, hit.provider, hit.provider_session_id, hit.title, hit.project
        FROM (
            SELECT e.id, e.session_id, e.ordinal, e.kind, e.role, e.tool_name, e.timestamp,
                   ts_rank_cd(e.search, query) AS score, {SESSION_COLUMNS},
                   CASE WHEN e.text <> '' THEN e.text WHEN e.tool_input <> '' THEN e.tool_name || ' ' || e.tool_input ELSE e.tool_output END AS body
            FROM timeline_event e
            JOIN timeline_session s ON s.id = e.session_id,
                 websearch_to_tsquery('english', %s) query
            WHERE {where}
            ORDER BY {order}
            LIMIT %s OFFSET %s
        ) hit
        ORDER BY {"hit.score DESC, hit.id DESC" if sort == "relevance" else "hit.timestamp DESC NULLS LAST, hit.id DESC"}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [PG_HIDDEN, q, options, q, *params, limit, offset])
        return cursor.fetchall()


def rebuild_index() -> str:
    """Rebuild the full-text index from the events table."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("INSERT INTO timeline_event_fts(timeline_event_fts) VALUES ('rebuild')")
            return "rebuilt the FTS5 index"
        cursor.execute("REINDEX INDEX timeline_event_search")
        return "reindexed the GIN index (the tsvector column is generated by Postgres)"
