"""Post text (Markdown) to safe HTML, on the server.

Two layers, so one library's bug is not enough for an injection:

- markdown-it-py (CommonMark) with raw HTML turned off: ``<script>`` in a post is
  shown as text, and its link validation refuses ``javascript:``/``vbscript:``/
  ``file:``/``data:`` URLs;
- nh3 (the Rust ``ammonia`` sanitizer) then keeps only an allow-list of tags and
  attributes and only http(s)/mailto or relative URLs, and adds ``rel=noopener``.

Images become plain links (no remote fetch when a page is opened). ``@commis-42`` and
``@oikos`` become links to the job and the chat. Both libraries load on the first
render, not with the server (about 5 MB it does not need while idle).
"""

from __future__ import annotations

import re
from functools import lru_cache

TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td",
}
ATTRIBUTES = {"a": {"href", "title", "class"}, "ol": {"start"}, "code": {"class"}}
# A table column's alignment is a class, never a ``style=""``: the Content-Security-Policy
# (zerg_site/security_headers.py) refuses every inline style, so posts carry none.
ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
CLASSES = {"th": ALIGN_CLASSES, "td": ALIGN_CLASSES}
ALIGN_STYLE = re.compile(r"text-align:(left|center|right)")
URL_SCHEMES = {"http", "https", "mailto"}
MENTION = re.compile(r"(?<![\w@/])@(commis-(\d+)|oikos)\b")


def _image_as_link(self, tokens, idx, options, env):
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = "".join(child.content for child in (token.children or [])) or src
    return f'<a href="{_escape(src)}">{_escape(alt)}</a>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _mentions(state) -> None:
    """Core rule: ``@commis-N`` / ``@oikos`` in plain text (not in code or links) become links."""
    from markdown_it.token import Token

    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out, in_link = [], 0
        for tok in block.children:
            if tok.type == "link_open":
                in_link += 1
            elif tok.type == "link_close":
                in_link -= 1
            if tok.type != "text" or in_link or not MENTION.search(tok.content):
                out.append(tok)
                continue
            pos = 0
            for match in MENTION.finditer(tok.content):
                if match.start() > pos:
                    out.append(_text(tok.content[pos:match.start()]))
                href = f"/commis/{match.group(2)}" if match.group(2) else "/chat"
                link = Token("link_open", "a", 1)
                link.attrs = {"href": href, "class": "mention"}
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
    from markdown_it.token import Token

    tok = Token("text", "", 0)
    tok.content = content
    return tok


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_as_link)
    md.core.ruler.push("zerg_mentions", _mentions)
    md.core.ruler.push("zerg_align_classes", _align_classes)
    return md


def sanitize(html: str) -> str:
    import nh3

    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, allowed_classes=CLASSES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


@lru_cache(maxsize=2048)
def render(text: str) -> str:
    """Markdown -> sanitized HTML, safe to insert into the page as it is."""
    return sanitize(_parser().render(text or ""))


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
