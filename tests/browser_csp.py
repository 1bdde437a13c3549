"""Makes every browser test a Content-Security-Policy test: the SPA runs under the policy of
``zerg_site/security_headers.py`` (the tests drive a real ``zerg serve``), and any resource, inline
script or inline style the browser refuses is collected here and fails the test that caused it.

Two sources, so neither a quiet event nor a quiet console is enough to miss one: an init script
(run by the browser before the page's own code, and not subject to the policy) reports each
``securitypolicyviolation`` event on the console, and Chromium's own "Refused to ..." console lines
are taken as well.

The tests' own code runs under the policy too: ``page.evaluate`` goes through the DevTools
protocol and is not affected, but ``page.wait_for_function`` must get a function (``"() => ..."``);
given a bare expression, Playwright polls it with ``eval``, which the policy refuses."""

from __future__ import annotations

MARK = "zerg-csp-violation:"

# Installed in every page of a watched context before any of the page's scripts.
REPORT_VIOLATIONS = f"""document.addEventListener('securitypolicyviolation', (e) => console.error(
  '{MARK} ' + e.effectiveDirective + ' refused ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':'
  + e.lineNumber + ' ' + (e.sample || '')), true);"""


class CspWatch:
    """The violations seen in the watched contexts of one browser, since the last :meth:`take`."""

    def __init__(self, browser=None):
        self.violations: list[str] = []
        if browser is not None:
            self.watch_browser(browser)

    def watch(self, context):
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", self._on_console)
        return context

    def watch_browser(self, browser) -> None:
        """Watch every context ``browser.new_context`` makes from now on (tests make their own)."""
        make = browser.new_context

        def new_context(*args, **kwargs):
            return self.watch(make(*args, **kwargs))

        browser.new_context = new_context

    def _on_console(self, message) -> None:
        text = message.text
        if text.startswith(MARK) or "Content Security Policy" in text:
            page = message.page.url if message.page else "?"
            self.violations.append(f"{page}: {text}")

    def take(self) -> list[str]:
        found, self.violations = self.violations, []
        return found

    def assert_none(self) -> None:
        found = self.take()
        assert not found, "the Content-Security-Policy refused something:\n" + "\n".join(found)
