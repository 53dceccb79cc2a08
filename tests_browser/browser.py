"""What the browser suite's fixtures and tests share: Chromium's command line, the watch that records what the browser
reports as wrong, and the admin sign-in."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Page, Request, Response
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright's default is 30 s a step; a page of this site that takes 10 s is broken, and CI's time is counted.
TIMEOUT_MS = 10_000
ADMIN_EMAIL = "browser-admin@example.com"
ADMIN_PASSWORD = "browser-suite-password-1"


@dataclass
class Expected:
    kind: str
    pattern: re.Pattern[str]
    required: bool = True
    seen: int = 0


@dataclass
class BrowserProblems:
    """What the browser reported as wrong during a test, less what the test said it expects."""

    problems: list[str] = field(default_factory=list)
    expected: list[Expected] = field(default_factory=list)

    def expect(self, kind: str, pattern: str, *, required: bool = True) -> None:
        """Allow, and unless not `required` require, a problem of `kind` ("http", "console", "pageerror",
        "requestfailed") whose text matches `pattern` (a regular expression searched in the text recorded for it)."""
        self.expected.append(Expected(kind, re.compile(pattern), required))

    def expect_status(self, status: int, path: str) -> None:
        """A response of `status` for `path` (and the console line Chromium may print for it)."""
        url = rf"https?://[^/]+{re.escape(path)}(\?\S*)?"
        self.expect("http", rf"^HTTP {status} \w+ {url}$")
        self.expect("console", rf"the server responded with a status of {status}\b.* at {url}$", required=False)

    def record(self, kind: str, text: str) -> None:
        for expected in self.expected:
            if expected.kind == kind and expected.pattern.search(text):
                expected.seen += 1
                return
        self.problems.append(f"{kind}: {text}")

    def report(self) -> list[str]:
        missing = [
            f"expected but not seen: {e.kind} matching {e.pattern.pattern!r}"
            for e in self.expected
            if e.required and not e.seen
        ]
        return self.problems + missing


def watch(page: Page, problems: BrowserProblems) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url") or page.url
            problems.record("console", f"{message.text} at {location}")

    def on_request_failed(request: Request) -> None:
        problems.record("requestfailed", f"{request.method} {request.url}: {request.failure}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            problems.record("http", f"HTTP {response.status} {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.record("pageerror", f"{error} at {page.url}"))
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)


def sign_in(page: Page, start: str = "/admin/", email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    """Through the admin's sign-in form, as a person does: opening `start` (the admin, which sends an anonymous
    visitor to its sign-in page, or that page itself), filling the form and landing on the dashboard."""
    response = page.goto(start)
    assert response is not None and response.status == 200
    assert urlsplit(page.url).path == "/admin/login/", f"{start} did not lead to the sign-in page but to {page.url}"
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("#login-form [type=submit]")
    assert urlsplit(page.url).path == "/admin/", f"still not signed in at {page.url}"


def settle(page: Page) -> None:
    """Let what the page still loads arrive (fonts, images, scripts' own requests) before its reports are read."""
    if page.is_closed():
        return
    with contextlib.suppress(PlaywrightTimeoutError):  # a page that never idles is judged on what it reported so far
        page.wait_for_load_state("networkidle", timeout=5_000)


def has_page(path: str) -> bool:
    """Whether the project routes `path` at all (a page another piece of work has yet to add is skipped, not failed)."""
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True
