"""Full-text search over posts: SQLite FTS5 (bm25) or Postgres tsvector + GIN (ts_rank_cd).

The Timeline's machinery, pointed at ``forum_post`` (migration 0002): the query
parsing (``fts5_query``), the snippet markers and their escaping (``render_snippet``)
come from :mod:`timeline.search`; only the SQL differs. Snippets are HTML-escaped with
the matched terms in ``<mark>...</mark>``, safe to insert as HTML.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from timeline.search import PG_HIDDEN, START, STOP, WORD, fts5_query, render_snippet

COLUMNS = "p.id, p.thread_id, t.title, b.slug, p.author_kind, p.author_ref, p.created_at"


def search(q: str, limit: int = 20, board: str | None = None) -> list[dict]:
    """Posts matching every word (or "quoted phrase") of ``q``, best first."""
    limit = max(1, min(int(limit), 200))
    rows = _postgres(q, limit, board) if connection.vendor == "postgresql" else _sqlite(q, limit, board)
    hits = []
    for post_id, thread_id, title, slug, kind, ref, created, snippet, score in rows or []:
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        hits.append(
            {
                "post": post_id,
                "thread": thread_id,
                "title": title,
                "board": slug,
                "author_kind": kind,
                "author": f"commis-{ref}" if kind == "commis" and ref else kind,
                "created_at": created.isoformat() if created else None,
                "snippet": render_snippet(snippet),
                "score": float(score or 0),
            }
        )
    return hits


def _sqlite(q: str, limit: int, board: str | None):
    match = fts5_query(q)
    if not match:
        return None
    where, params = "forum_post_fts MATCH %s", [match]
    if board:
        where += " AND b.slug = %s"
        params.append(board)
    # rank and page first; snippet() (which re-reads the document) then runs only on the page
    sql = f"""
        SELECT hit.id, hit.thread_id, hit.title, hit.slug, hit.author_kind, hit.author_ref, hit.created_at,
               snippet(forum_post_fts, 0, '{START}', '{STOP}', '…', 24), -hit.score
        FROM (
            SELECT {COLUMNS}, bm25(forum_post_fts) AS score
            FROM forum_post_fts
            JOIN forum_post p ON p.id = forum_post_fts.rowid
            JOIN forum_thread t ON t.id = p.thread_id
            JOIN forum_board b ON b.id = t.board_id
            WHERE {where}
            ORDER BY score, p.id DESC
            LIMIT %s
        ) hit
        JOIN forum_post_fts ON forum_post_fts.rowid = hit.id
        WHERE forum_post_fts MATCH %s
        ORDER BY hit.score, hit.id DESC"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, match])
        return cursor.fetchall()


def _postgres(q: str, limit: int, board: str | None):
    if not WORD.search(q or ""):
        return None
    where, params = "p.search @@ query", []
    if board:
        where += " AND b.slug = %s"
        params.append(board)
    options = f"StartSel={START}, StopSel={STOP}, MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=…"
    sql = f"""
        SELECT hit.id, hit.thread_id, hit.title, hit.slug, hit.author_kind, hit.author_ref, hit.created_at,
               ts_headline('english', translate(left(hit.text, 20000), '<>&', %s),
                           websearch_to_tsquery('english', %s), %s),
               hit.score
        FROM (
            SELECT {COLUMNS}, p.text, ts_rank_cd(p.search, query) AS score
            FROM forum_post p
            JOIN forum_thread t ON t.id = p.thread_id
            JOIN forum_board b ON b.id = t.board_id,
                 websearch_to_tsquery('english', %s) query
            WHERE {where}
            ORDER BY score DESC, p.id DESC
            LIMIT %s
        ) hit
        ORDER BY hit.score DESC, hit.id DESC"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [PG_HIDDEN, q, options, q, *params, limit])
        return cursor.fetchall()
