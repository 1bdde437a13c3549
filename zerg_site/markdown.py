"""Markdown (Forum posts, model replies, Timeline message text) to safe HTML, on the server.

It lives in the core layer because the Forum, Oikos and the Timeline all render with it, and
the SPA then ships no Markdown library of its own (the first load's size budget). Two layers,
so one library's bug is not enough for an injection:

- markdown-it-py (CommonMark) with raw HTML turned off: ``<script>`` in a post is
  shown as text, and its link validation refuses ``javascript:``/``vbscript:``/
  ``file:``/``data:`` URLs;
- nh3 (the Rust ``ammonia`` sanitizer) then keeps only an allow-list of tags and
  attributes and only http(s)/mailto or relative URLs, and adds ``rel=noopener``.

Images become plain links (no remote fetch when a page is opened). ``@commis-42`` and
``@oikos`` become links to the job and the chat; in chat replies and session text the in-app
paths ``/commis/12``, ``/timeline/3`` and ``/chat/4`` do too (:func:`render_message`). Both
libraries load on the first render, not with the server (about 5 MB it does not need while idle).
"""

from __future__ import annotations

import re
from functools import lru_cache

TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ATTRIBUTES = {"a": {"href", "title", "class"}, "ol": {"start"}, "code": {"class"}}
# A table column's alignment is a class, never a ``style=""``: the Content-Security-Policy
# (zerg_site/security_headers.py) refuses every inline style, so posts carry none.
ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
CLASSES = {"th": ALIGN_CLASSES, "td": ALIGN_CLASSES}
ALIGN_STYLE = re.compile(r"text-align:(left|center|right)")
URL_SCHEMES = {"http", "https", "mailto"}
MENTION = re.compile(r"(?<![\w@/])@(commis-(\d+)|oikos)\b")
APP_PATH = re.compile(r"(?<![\w/.:])/(?:commis|timeline|chat)/\d+\b")
# Longer text is sent as plain text (shown pre-wrapped): a session's pasted log of megabytes is
# not worth its render time on every page of events.
MESSAGE_LIMIT = 30_000


def _image_as_link(self, tokens, idx, options, env):
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = "".join(child.content for child in (token.children or [])) or src
    return f'<a href="{_escape(src)}">{_escape(alt)}</a>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _mentions(state) -> None:
    """Core rule: ``@commis-N`` / ``@oikos`` in plain text (not in code or links) become links."""
    _link_matches(state, MENTION, lambda m: f"/commis/{m.group(2)}" if m.group(2) else "/chat", "mention")


def _app_paths(state) -> None:
    """Core rule: ``/commis/12``-style paths in plain text (not in code or links) become links."""
    _link_matches(state, APP_PATH, lambda m: m.group(0), "")


def _link_matches(state, pattern, href_of, css: str) -> None:
    from markdown_it.token import Token  # lazy: see _parser()

    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out, in_link = [], 0
        for tok in block.children:
            if tok.type == "link_open":
                in_link += 1
            elif tok.type == "link_close":
                in_link -= 1
            if tok.type != "text" or in_link or not pattern.search(tok.content):
                out.append(tok)
                continue
            pos = 0
            for match in pattern.finditer(tok.content):
                if match.start() > pos:
                    out.append(_text(tok.content[pos : match.start()]))
                link = Token("link_open", "a", 1)
                link.attrs = {"href": href_of(match), **({"class": css} if css else {})}
                out += [link, _text(match.group(0)), Token("link_close", "a", -1)]
                pos = match.end()
            if pos < len(tok.content):
                out.append(_text(tok.content[pos:]))
        block.children = out


def _align_classes(state) -> None:
    """Core rule: markdown-it's ``style="text-align:x"`` on table cells becomes ``class="align-x"``."""
    for tok in state.tokens:
        if tok.type in ("th_open", "td_open") and tok.attrs.get("style"):
            match = ALIGN_STYLE.fullmatch(str(tok.attrs.pop("style")))
            if match:
                tok.attrs["class"] = f"align-{match.group(1)}"


def _text(content: str):
    from markdown_it.token import Token  # lazy: see _parser()

    tok = Token("text", "", 0)
    tok.content = content
    return tok


@lru_cache(maxsize=2)
def _parser(app_paths: bool = False):
    # lazy: markdown-it is ~4 MB RSS / 25-100 ms measured alone; oikos.models imports this module in
    # every process (the worker too), and only rendering a post or a reply needs it
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_as_link)
    md.core.ruler.push("zerg_mentions", _mentions)
    if app_paths:
        md.core.ruler.push("zerg_app_paths", _app_paths)
    md.core.ruler.push("zerg_align_classes", _align_classes)
    return md


def sanitize(html: str) -> str:
    import nh3  # lazy: ~1.5 MB RSS; oikos.models imports this module in every process, few render

    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@lru_cache(maxsize=2048)
def render(text: str) -> str:
    """Markdown -> sanitized HTML, safe to insert into the page as it is."""
    return sanitize(_parser().render(text or ""))


@lru_cache(maxsize=1024)
def render_message(text: str) -> str:
    """A model's reply or a session's message as sanitized HTML, with in-app paths linked; ""
    for empty text and for text over ``MESSAGE_LIMIT`` (the SPA then shows it as plain text)."""
    if not text or not text.strip() or len(text) > MESSAGE_LIMIT:
        return ""
    return sanitize(_parser(True).render(text))


def mentions(text: str) -> tuple[list[int], bool]:
    """(commis job ids mentioned with ``@commis-N``, whether ``@oikos`` is mentioned)."""
    ids, oikos = [], False
    for match in MENTION.finditer(text or ""):
        if match.group(2):
            if int(match.group(2)) not in ids:
                ids.append(int(match.group(2)))
        else:
            oikos = True
    return ids, oikos
