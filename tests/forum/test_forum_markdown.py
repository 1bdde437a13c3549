"""Post Markdown is rendered on the server and sanitized: hostile input never yields live HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from zerg_site.markdown import mentions, render

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![x" onerror="alert(1)](http://example.com/a.png)',
    '[x](http://example.com/"onmouseover="alert(1))',
    "<iframe src=//evil></iframe>",
    "<svg onload=alert(1)>",
    "<style>body{display:none}</style>",
    "<!-- <script>alert(1)</script> -->",
    "<div onclick=alert(1)>hi</div>",
    "| a |\n|:-:|\n| <b onmouseover=alert(1)>x</b> |",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "<details open ontoggle=alert(1)>",
    "[x](  javascript:alert(1)  )",
    "<javascript:alert(1)>",
]


class Elements(HTMLParser):
    """The real elements and attributes a browser would build from the HTML."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


@pytest.mark.parametrize("text", HOSTILE)
def test_it_never_renders_live_html_from_hostile_input(text):
    html = render(text)
    for tag, attrs in Elements(html).found:
        assert tag in {"p", "a", "code", "pre", "table", "thead", "tbody", "tr", "th", "td"}, html
        assert set(attrs) <= {"href", "rel", "class", "title"}, html  # no style="": the CSP refuses it
        assert not re.match(r"\s*(javascript|vbscript|data):", attrs.get("href") or "", re.IGNORECASE), html
    assert "<script" not in html.lower() and "<img" not in html.lower()


def test_it_renders_ordinary_markdown():
    html = render("**bold** _it_ `code` [link](https://example.com) [rel](/commis/3)\n\n- a\n- b\n\n> quote")
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">link</a>' in html
    assert 'href="/commis/3"' in html and "<li>a</li>" in html and "<blockquote>" in html


def test_it_turns_images_into_links_and_keeps_tables():
    assert render("![diagram](https://example.com/d.png)").count("<img") == 0
    assert 'href="https://example.com/d.png"' in render("![diagram](https://example.com/d.png)")
    html = render("| a | b |\n|--:|---|\n| 1 | 2 |")
    assert '<td class="align-right">1</td>' in html and "style" not in html


def test_it_links_mentions_outside_code():
    html = render("ask @commis-42 and @oikos, not `@commis-7` or mail@oikos.com")
    assert '<a href="/commis/42" class="mention"' in html and '<a href="/chat" class="mention"' in html
    assert "<code>@commis-7</code>" in html and "mail@oikos.com" in html
    assert mentions("@commis-42 @commis-42 @commis-5 and @oikos") == ([42, 5], True)
    assert mentions("mail@oikos.com x@commis-3") == ([], False)
