"""Full-text search over events: SQLite FTS5 (bm25) or Postgres tsvector + GIN (ts_rank_cd).

Both index message text, tool names, tool inputs and tool outputs (migrations 0002 and
0003 keep the index current on every insert/update/delete; the ingest feeds SQLite's in
one statement per request), plus filter terms (facets: session, role, kind, tool, and on
Postgres a 30-day time bucket, the session's provider and device, and an id block; migrations
0003, 0004 and 0006) so the index applies the filters.
Snippets come back HTML-escaped with the matched terms wrapped in ``<mark>...</mark>``,
safe to insert as HTML.
"""

from __future__ import annotations

import html
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from timeline.indexer import index_pending

log = logging.getLogger("zerg.timeline")

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
        """Every filter as SQL on ``e`` (the event) and ``s`` (its session)."""
        clauses, params = self.event_where()
        session_clauses, session_params = self.session_where("s.")
        return session_clauses + clauses, session_params + params

    def session_where(self, prefix: str = "") -> tuple[list[str], list]:
        clauses, params = [], []
        for column, value in (
            ("provider", self.provider),
            ("project", self.project),
            ("device", self.device),
            ("git_branch", self.branch),
        ):
            if value not in (None, ""):
                clauses.append(f"{prefix}{column} = %s")
                params.append(value)
        return clauses, params

    def event_where(self) -> tuple[list[str], list]:
        clauses, params = [], []
        for column, value in (
            ("e.role", self.role),
            ("e.tool_name", self.tool),
            ("e.kind", self.kind),
            ("e.session_id", self.session_id),
        ):
            if value not in (None, ""):
                clauses.append(f"{column} = %s")
                params.append(value)
        time_clauses, time_params = self.time_where()
        return clauses + time_clauses, params + time_params

    def time_where(self) -> tuple[list[str], list]:
        """The date range on ``e.timestamp`` (since inclusive, until exclusive)."""
        clauses, params = [], []
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


def search(q: str, filters: Filters | None = None, sort: str = "relevance", limit: int = 20, offset: int = 0) -> dict:
    """Hits, best first (or newest first): ``{"hits": [...], "has_more": bool}``."""
    filters = filters or Filters()
    limit = max(1, min(int(limit), 200))
    offset = max(0, int(offset))
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    if connection.vendor == "postgresql":
        rows = _postgres(q, filters, sort, limit + 1, offset)
    else:
        try:
            index_pending()  # what an ingest left to the background indexer is searchable at once
        except DatabaseError:  # a full disk, a long lock: search what is indexed rather than fail
            log.warning("could not index pending events before a search", exc_info=True)
        rows = _sqlite(q, filters, sort, limit + 1, offset)
    if rows is None:
        return {"hits": [], "has_more": False}
    hits = []
    for row in rows[:limit]:
        (
            event_id,
            session_id,
            ordinal,
            kind,
            role,
            tool_name,
            ts,
            snippet,
            score,
            provider,
            provider_sid,
            title,
            project,
        ) = row
        if isinstance(ts, str):
            ts = datetime.fromisoformat(ts)
        hits.append(
            {
                "event_id": event_id,
                "session_id": session_id,
                "ordinal": ordinal,
                "kind": kind,
                "role": role,
                "tool_name": tool_name,
                "timestamp": ts.isoformat() if ts else None,
                "snippet": render_snippet(snippet),
                "score": float(score or 0),
                "session": {
                    "id": session_id,
                    "provider": provider,
                    "provider_session_id": provider_sid,
                    "title": title,
                    "project": project,
                },
            }
        )
    return {"hits": hits, "has_more": len(rows) > limit}


# the session's display title (Session.display_title): its first prompt, else the CLI's title
SESSION_COLUMNS = "s.provider, s.provider_session_id, CASE WHEN s.prompt = '' THEN s.title ELSE s.prompt END, s.project"


# Session filters become facet terms when the sessions they select are few and small: FTS5
# then merges their doclists (cost ~ their events) instead of checking every match (cost ~
# the matches). Beyond these, the filter is checked per match.
FACET_SESSIONS, FACET_EVENTS = 200, 50_000
TEXT_COLUMNS = "{text tool_name tool_input tool_output}"  # what the user's words may match (not facets)
FACET_WORD = re.compile(r"^zz[srkt][0-9a-f]*$")


def facet(kind: str, value) -> str:
    """The facets-column token of an event attribute (timeline migration 0003): zzs<session id>, or
    zzr / zzk / zzt + the hex of the role, kind or tool name (hex: one token whatever the characters).

    Only the selective ones are searched this way (session ids, tool names): a token on half the
    events (a role, a kind) costs FTS5 more to intersect than checking the matches one by one."""
    return f"zzs{int(value)}" if kind == "s" else "zz" + kind + str(value).encode("utf-8").hex()


def _sqlite(q, filters, sort, limit, offset):
    words = fts5_query(q)
    if not words:
        return None
    # Selective filters on what an event never changes (its session, its tool) are full-text
    # terms on the facets column: FTS5 intersects them with the words in its doclists. Session
    # filters (provider, project, device, branch) become the ids of the sessions they select
    # when those are few (FACET_*). The other filters, recency order and wide session filters
    # read the covering index timeline_event_filter (id, session_id, kind, role, tool_name,
    # timestamp) per match, never the event rows (whose large texts come before those
    # columns: overflow pages).
    terms, clauses, params = [], [], []
    session_clauses, session_params = filters.session_where()
    if session_clauses:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, event_count FROM timeline_session WHERE {' AND '.join(session_clauses)} "
                f"LIMIT {FACET_SESSIONS + 1}",
                session_params,
            )
            selected = cursor.fetchall()
        if not selected:
            return []
        if len(selected) <= FACET_SESSIONS and sum(n for _, n in selected) <= FACET_EVENTS:
            terms.append("(" + " OR ".join(facet("s", i) for i, _ in selected) + ")")
        else:  # ``+``: one list probe per match, not one index probe per listed session
            clauses.append(f"+e.session_id IN (SELECT id FROM timeline_session WHERE {' AND '.join(session_clauses)})")
            params += session_params
    for kind, value in (("s", filters.session_id), ("t", filters.tool)):
        if value not in (None, ""):
            terms.append(facet(kind, value))
    for column, value in (("e.role", filters.role), ("e.kind", filters.kind)):
        if value not in (None, ""):
            clauses.append(f"{column} = %s")
            params.append(value)
    time_clauses, time_params = filters.time_where()
    clauses += time_clauses
    params += time_params
    # The user's words match the text columns only; saying so costs FTS5 a column check per
    # match, so it is said only when a word looks like a facet token.
    if any(FACET_WORD.match(w.lower()) for w in WORD.findall(q)):
        words = f"{TEXT_COLUMNS} : ({words})"
    match = words
    if terms:
        match += " AND facets : (" + " AND ".join(terms) + ")"
    relevance = sort == "relevance"
    join = ""
    if clauses or not relevance:
        join = "JOIN timeline_event e INDEXED BY timeline_event_filter ON e.id = timeline_event_fts.rowid"
    order = "score" if relevance else "e.timestamp DESC, e.id DESC"
    # The outer query reads the events, sessions and snippet() (which re-reads and tokenizes the
    # document) for the page only; CROSS JOIN makes it look the page's rows up by rowid instead of
    # running the full-text query a second time (its MATCH has the user's words only, which never
    # match the facets column, so the snippet never picks it).
    sql = f"""
        SELECT e.id, e.session_id, e.ordinal, e.kind, e.role, e.tool_name, e.timestamp,
               snippet(timeline_event_fts, -1, '{START}', '{STOP}', '…', 16),
               hit.score, {SESSION_COLUMNS}
        FROM (
            SELECT timeline_event_fts.rowid AS id, bm25(timeline_event_fts, 1.0, 2.0, 0.5, 0.4, 0.0) AS score
                   {", e.timestamp AS ts" if not relevance else ""}
            FROM timeline_event_fts {join}
            WHERE {" AND ".join(["timeline_event_fts MATCH %s", *clauses])}
            ORDER BY {order}
            LIMIT %s OFFSET %s
        ) hit
        CROSS JOIN timeline_event_fts ON timeline_event_fts.rowid = hit.id
        JOIN timeline_event e ON e.id = hit.id
        JOIN timeline_session s ON s.id = e.session_id
        WHERE timeline_event_fts MATCH %s
        ORDER BY {"hit.score" if relevance else "hit.ts DESC, hit.id DESC"}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, *[_adapt(p) for p in params], limit, offset, words])
        rows = cursor.fetchall()
    return [(*r[:8], -r[8] if r[8] is not None else 0, *r[9:]) for r in rows]


# Postgres (timeline migrations 0004, 0006): the same filters as lexemes of the search vector, so GIN
# intersects them with the words and only the filtered matches reach the heap and ts_rank_cd.
PG_FACET_SESSIONS = 50  # beyond, a project / branch filter is checked per match (an OR of 200 lexemes costs GIN ~1 s)
PG_RANK_CANDIDATES = 3000  # relevance ranks the newest this many matches
BUCKET_SECONDS = 2592000  # the 30-day buckets of '#m:', '#pm:', '#dm:' (migrations 0004, 0006)
PG_FACET_BUCKETS = 36
PG_BLOCK_BITS = 16  # '#b:<id >> 16>': blocks of 65,536 event ids (migration 0006)
PG_BLOCK_COST = 500  # a block's search costs about as much as this many heap visits (~1.5 ms)


def pg_lexeme(kind: str, value) -> str:
    """A facet lexeme as a quoted tsquery operand: '#s:12', '#t:Bash' (see migrations 0004, 0006)."""
    text = f"#{kind}:{value}".replace("\\", "\\\\").replace("'", "''")
    return f"'{text}'"


def _bucket(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = timezone.make_aware(moment)
    return int(moment.timestamp() // BUCKET_SECONDS)


def _postgres_filters(filters: Filters):
    """(facet tsqueries, SQL clauses, params, narrow) for ``filters``; None if nothing can match.

    Each facet tsquery is its own condition on the search vector: GIN intersects separate conditions
    (scan keys) skipping ahead in each posting list, where inside one tsquery it would read the rarest
    list whole. ``narrow``: the filters select a few sessions or a date range of a few buckets, so the
    matches are few or bunched in time (reading the newest id blocks first would not pay)."""
    terms, clauses, params = [], [], []
    narrow = False
    # Project and branch (which a session may change) become the ids of the sessions selected, when few.
    other_clauses, other_params = Filters(project=filters.project, branch=filters.branch).session_where()
    if other_clauses:
        session_clauses, session_params = filters.session_where()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM timeline_session WHERE {' AND '.join(session_clauses)} LIMIT {PG_FACET_SESSIONS + 1}",
                session_params,
            )
            selected = [i for (i,) in cursor.fetchall()]
        if not selected:
            return None
        if len(selected) <= PG_FACET_SESSIONS:
            terms.append("(" + " | ".join(pg_lexeme("s", i) for i in selected) + ")")
            narrow = True
        else:
            clauses.append(f"e.session_id IN (SELECT id FROM timeline_session WHERE {' AND '.join(other_clauses)})")
            params += other_params
    for kind, value in (("s", filters.session_id), ("r", filters.role), ("k", filters.kind), ("t", filters.tool)):
        if value not in (None, ""):
            terms.append(pg_lexeme(kind, int(value) if kind == "s" else value))
            narrow = narrow or kind == "s"
    time_clauses, time_params = filters.time_where()
    clauses += time_clauses
    params += time_params
    # The session's provider and device are lexemes of its events (migration 0006); with a date range,
    # per 30-day bucket ('#dm:<bucket>:<device>'): one short posting list per month, not two long ones.
    session_facets = [
        (kind, value) for kind, value in (("p", filters.provider), ("d", filters.device)) if value not in (None, "")
    ]
    buckets = None
    if filters.since is not None and filters.until is not None:
        first, last = _bucket(filters.since), _bucket(filters.until)
        if last < first:
            return None
        if last - first < PG_FACET_BUCKETS:  # the exact range is still checked on the row
            buckets = range(first, last + 1)
            narrow = True
    if buckets is not None and session_facets:
        kind, value = session_facets.pop()
        terms.append("(" + " | ".join(pg_lexeme(f"{kind}m", f"{b}:{value}") for b in buckets) + ")")
    elif buckets is not None:
        terms.append("(" + " | ".join(pg_lexeme("m", b) for b in buckets) + ")")
    terms += [pg_lexeme(kind, value) for kind, value in session_facets]
    return terms, clauses, params, narrow


def _postgres(q, filters, sort, limit, offset):
    if not WORD.search(q):
        return None
    built = _postgres_filters(filters)
    if built is None:
        return []
    terms, clauses, params, narrow = built
    if sort == "relevance":
        hits = _postgres_ranked(q, terms, clauses, params, narrow)[offset : offset + limit]
        if not hits:
            return []
        ids, scores = [h[0] for h in hits], [h[1] for h in hits]
        page = "unnest(%s::bigint[], %s::float8[]) WITH ORDINALITY AS hit(id, score, n)"
        page_params, order = [ids, scores], "hit.n"
    else:
        where = " AND ".join([_matching(terms), *clauses])
        page = f"""(SELECT e.id, e.timestamp, 0.0 AS score
                    FROM timeline_event e, websearch_to_tsquery('english', %s) query
                    WHERE {where}
                    ORDER BY e.timestamp DESC NULLS LAST, e.id DESC LIMIT %s OFFSET %s) hit"""
        page_params = [q, *terms, *params, limit, offset]
        order = "hit.timestamp DESC NULLS LAST, hit.id DESC"
    options = f"StartSel={START}, StopSel={STOP}, MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=…"
    # The page's texts, sessions and ts_headline (costly) come after the paging.
    sql = f"""
        SELECT e.id, e.session_id, e.ordinal, e.kind, e.role, e.tool_name, e.timestamp,
               ts_headline('english', translate(left(CASE WHEN e.text <> '' THEN e.text
                   WHEN e.tool_input <> '' THEN e.tool_name || ' ' || e.tool_input ELSE e.tool_output END, 20000),
                   '<>&', %s), websearch_to_tsquery('english', %s), %s),
               hit.score, {SESSION_COLUMNS}
        FROM {page}
        JOIN timeline_event e ON e.id = hit.id
        JOIN timeline_session s ON s.id = e.session_id
        ORDER BY {order}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [PG_HIDDEN, q, options, *page_params])
        return cursor.fetchall()


def _matching(terms: list[str]) -> str:
    """``query`` (the user's words) ranks; the words and each facet tsquery select through GIN. numnode: a
    query of stop words only is empty, and an empty query with facets would match every row."""
    return " AND ".join(["numnode(query) > 0", "e.search @@ query", *["e.search @@ %s::tsquery"] * len(terms)])


def _postgres_ranked(q, terms, clauses, params, narrow) -> list[tuple[int, float]]:
    """(id, score) of the newest PG_RANK_CANDIDATES matches, best first.

    Ranking reads each candidate's search vector (often TOASTed: ~10 us apiece), so only the newest
    PG_RANK_CANDIDATES matches that pass the filters are ranked. Finding them costs a GIN entry and a
    heap visit (~1 KB rows: a page each) per match, however many there are: for a common word, most of
    the time. So unless the filters are narrow, the newest id blocks ('#b:' lexemes, migration 0006)
    are searched first: the newest block, then as many more as the rate of matches so far says will
    complete the candidates, in one search (GIN skips to the blocks in every posting list: ~1-2 ms a
    block plus its matches), as long as that costs less than the rest at once (PG_BLOCK_COST); the
    rest is then one search of the older events. The candidates are the same either way."""

    def candidates(blocks: range | None, below: int | None, wanted: int):
        # ``e.id + 0``: a bitmap scan of the matches, never a walk down the primary key testing every event
        keys = terms + (["(" + " | ".join(pg_lexeme("b", b) for b in blocks) + ")"] if blocks else [])
        where = " AND ".join([_matching(keys), *clauses, *(["e.id < %s"] if below is not None else [])])
        sql = f"""
            SELECT c.id, ts_rank_cd(c.search, query)
            FROM (SELECT e.id, e.search FROM timeline_event e, websearch_to_tsquery('english', %s) query
                  WHERE {where} ORDER BY e.id + 0 DESC LIMIT {int(wanted)}) c,
                 websearch_to_tsquery('english', %s) query"""
        args = [q, *keys, *params, *([below] if below is not None else []), q]
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()

    found: list[tuple[int, float]] = []
    wanted = PG_RANK_CANDIDATES
    below = None  # the rest: events with ids below this
    if not narrow:
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) FROM timeline_event")
            top = cursor.fetchone()[0]
        if top is None:
            return []
        block, span = top >> PG_BLOCK_BITS, 1
        while True:
            low = max(0, block - span + 1)
            found += candidates(range(block, low - 1, -1), None, wanted - len(found))
            below = low << PG_BLOCK_BITS
            if len(found) >= wanted or low == 0:
                below = None if len(found) >= wanted else 0
                break
            # Go on by blocks while that costs less than the rest at once: with ``rate`` matches per event
            # id so far, the ``need`` candidates still wanted take ``blocks`` more blocks (one search, a
            # block's GIN work each) and ``need`` heap visits; the rest at once, ~rate * below visits.
            rate, need = len(found) / (top - below + 1), wanted - len(found)
            blocks = need / rate / (1 << PG_BLOCK_BITS) if rate else 0
            if not rate or blocks * PG_BLOCK_COST + need >= rate * below:
                break
            block, span = low - 1, math.ceil(blocks * 1.25)
    if below is None and not found:
        found = candidates(None, None, wanted)
    elif below:
        found += candidates(None, below, wanted - len(found))
    return sorted(found, key=lambda hit: (-hit[1], -hit[0]))


def rebuild_index() -> str:
    """Rebuild the full-text index from the events table."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            with transaction.atomic():  # the rebuild indexes the pending ranges too
                cursor.execute("INSERT INTO timeline_event_fts(timeline_event_fts) VALUES ('rebuild')")
                cursor.execute("DELETE FROM timeline_fts_pending")
            return "rebuilt the FTS5 index"
        cursor.execute("REINDEX INDEX timeline_event_search")
        return "reindexed the GIN index (triggers keep the search vectors: timeline migration 0006)"
