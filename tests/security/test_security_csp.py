"""Issue 18, item 10: the Content-Security-Policy (zerg_site/security_headers.py).

The Forum inserts HTML the server rendered from Markdown that agents, jobs and the owner wrote.
An attacker who controls such text tries raw ``<script>``, an ``<img onerror>``, an inline
``style=`` that covers the page and ``javascript:`` links; the sanitiser turns them into text, and
should it ever miss one, the browser refuses it anyway: every response carries a policy that runs
only the SPA's own script files and applies only its own style sheet, and no page can be framed.

The header tests use Django's test client; the page tests drive real headless Chromium at
360x780 against a real ``zerg serve`` (as tests/browser/test_browser*.py do, which all fail on any CSP
violation through tests/browser_csp.py)."""

from __future__ import annotations

import os
from html.parser import HTMLParser

import pytest

from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, artifacts_dir
from tests.browser_csp import CspWatch
from tests.procs import create_token, http_json

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

# What a hostile agent or job output posts: each line tries to run script or restyle the page.
HOSTILE = (
    "visible words stay\n\n"
    "<script>window.__pwned = 'script'</script>\n\n"
    '<img src="/missing.png" onerror="window.__pwned = \'img\'">\n\n'
    '<p style="position:fixed;inset:0;z-index:99;background:red">covers the page</p>\n\n'
    "[click me](javascript:window.__pwned='link')\n\n"
    "<a href=\"javascript:window.__pwned='raw-link'\">raw link</a>\n\n"
    "| left | right |\n|:--|--:|\n| a | b |\n"
)


class Elements(HTMLParser):
    """The real elements and attributes a browser builds from the HTML (escaped text is not one)."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_safe_headers(response) -> None:
    assert response["Content-Security-Policy"] == POLICY, response.get("Content-Security-Policy")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/forum/t/42",
        "/commis/7",
        "/admin/login/",
        "/index.html",
        "/sw.js",
        "/manifest.webmanifest",
        "/api/health",
        "/api/timeline/sessions",
    ],
)
def test_it_cannot_frame_or_inline_into_any_page_each_response_carries_the_policy(client, path):
    response = client.get(path)
    assert response.status_code in (200, 401), (path, response.status_code)
    assert_safe_headers(response)


def test_it_cannot_inline_into_the_admin_or_the_api_docs_logged_in_either(owner_client):
    for path in ("/admin/", "/api/docs"):
        response = owner_client.get(path)
        assert response.status_code == 200, path
        assert_safe_headers(response)
        html = response.content.decode()
        # the policy allows them: every script of these pages is a file (the JSON one is data)
        assert "<script>" not in html and '<script type="text/javascript">' not in html and " style=" not in html


def test_it_stores_a_hostile_post_as_text_and_renders_no_live_html(owner_client):
    made = owner_client.post(
        "/api/forum/boards/general/threads", {"title": "Plan", "text": HOSTILE}, content_type="application/json"
    )
    assert made.status_code == 200, made.content
    post = owner_client.get(f"/api/forum/threads/{made.json()['id']}").json()["posts"][0]
    assert post["text"] == HOSTILE  # stored as written: nothing lost
    html = post["html"]
    elements = Elements(html).found
    assert {tag for tag, _ in elements} <= {"p", "table", "thead", "tbody", "tr", "th", "td"}, html
    assert all(set(attrs) <= {"class"} for _, attrs in elements), html  # no style=, no on*=, no href
    assert "&lt;script&gt;" in html and "<p>visible words stay</p>" in html
    assert '<th class="align-right">right</th>' in html  # the column's alignment, as a class


# --- in real Chromium, against a real server


@pytest.fixture
def small_phone():
    """A 360x780 phone context and the CSP violations of its pages (the test decides which it expects)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        csp = CspWatch(browser)
        context = browser.new_context(
            viewport={"width": 360, "height": 780}, device_scale_factor=1, is_mobile=True, has_touch=True
        )
        try:
            yield context, csp
        finally:
            context.close()
            browser.close()


def open_thread(context, server, thread_id: int):
    """A logged-in page on the thread, opened by its deep link; the response's policy is checked."""
    page = context.new_page()
    page.goto(server.login_link)
    page.get_by_test_id("dashboard").wait_for(timeout=15000)
    response = page.goto(f"{server.url}/forum/t/{thread_id}")
    assert response.headers["content-security-policy"] == POLICY
    page.get_by_test_id("post").first.wait_for(timeout=15000)
    return page


def next_violation(page, inject: str, field: str = "effectiveDirective") -> str:
    """Runs the statements ``inject`` in the page; the ``field`` of the violation that follows.
    (Composed here: ``eval``/``new Function`` in the page would be refused by the policy too.)"""
    return page.evaluate(f"""() => new Promise((resolve) => {{
      document.addEventListener('securitypolicyviolation', (e) => resolve(e.{field}), {{once: true}});
      {inject}
    }})""")


@pytest.mark.browser
@pytest.mark.slow
def test_it_runs_no_script_from_a_hostile_post_and_shows_its_text(zerg_server, small_phone, tmp_path):
    context, csp = small_phone
    token = create_token(zerg_server.env)
    status, made = http_json(
        zerg_server.url + "/api/forum/boards/general/threads",
        "POST",
        token=token,
        body={"title": "Hostile", "text": HOSTILE},
    )
    assert status == 200, made
    page = open_thread(context, zerg_server, made["id"])
    post = page.get_by_test_id("post").first
    body = post.locator(".md")
    body.get_by_text("visible words stay").wait_for(timeout=10000)
    text = body.inner_text()
    assert "<script>window.__pwned = 'script'</script>" in text and "covers the page" in text
    assert body.locator("script, img, [style], [onerror], a[href^='javascript']").count() == 0
    assert body.locator("th.align-right").inner_text() == "right"
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.screenshot(path=str(artifacts_dir(tmp_path) / "security-csp-hostile-post-360x780.png"))
    csp.assert_none()  # the app itself needed nothing the policy refuses


@pytest.mark.browser
@pytest.mark.slow
def test_it_is_refused_by_the_browser_when_markup_gets_past_the_sanitiser(zerg_server, small_phone):
    """As if the sanitiser had a bug: markup inserted into a post as the app inserts post HTML."""
    context, csp = small_phone
    token = create_token(zerg_server.env)
    status, made = http_json(
        zerg_server.url + "/api/forum/boards/general/threads",
        "POST",
        token=token,
        body={"title": "Plain", "text": "nothing to see"},
    )
    assert status == 200, made
    page = open_thread(context, zerg_server, made["id"])
    page.get_by_text("nothing to see").wait_for(timeout=10000)
    csp.assert_none()

    add = "document.querySelector('.md').insertAdjacentHTML('beforeend', {!r});".format
    inserts = {
        "script-src-elem": "const s = document.createElement('script'); s.textContent = \"window.__pwned = 'script'\";"
        " document.querySelector('.md').append(s);",
        "script-src-attr": add('<img src="/missing.png" onerror="window.__pwned = 1">'),
        "style-src-attr": add('<p style="display:none">styled</p>'),
        "style-src-elem": add("<style>body { display: none }</style>"),
    }
    for directive, inject in inserts.items():
        assert next_violation(page, inject) == directive
    # a javascript: link the owner taps does not run either
    page.evaluate(add('<a id="bad" href="javascript:window.__pwned=2">tap</a>'))
    assert next_violation(page, "document.getElementById('bad').click();", "blockedURI") == "inline"
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.get_by_text("styled").is_visible() and page.locator("body").is_visible()
    found = csp.take()
    assert len(found) >= len(inserts) + 1, found  # each refusal was reported, as the other browser tests see them
