"""The browser suite (`make test-browser`): Debian's Chromium, driven by Playwright, against Django's live server.

The live server runs in this process on the test database (pytest-django's `live_server`: every test is a
transactional one, its rows are flushed afterwards), with this run's DATA_DIR (the Makefile gives each run its own).

A test fails on anything the browser reports as wrong: a console error, an uncaught page error, a request that
failed, or a response with an HTTP status of 400 or more. Nothing is allowed by default; a test that legitimately
meets one (a 503 while in maintenance) says so with `browser_problems.expect(...)`, which also asserts that it
happened. A failed test leaves a screenshot of its page under DATA_DIR/browser-screenshots/.

Never `playwright install`: the pip package carries its own driver, the browser is Debian's (.ci/run installs it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests_browser.browser import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    BrowserProblems,
    settle,
    sign_in,
    watch,
)

# Playwright's synchronous API keeps an asyncio loop running in this thread (in a greenlet), so Django would take the
# test's own ORM calls (creating the superuser, reading a live setting) for calls from async code and refuse them.
# They are plain synchronous calls; the live server answers in its own threads, where no loop runs.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM=/path/to/it")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


PAGES = pytest.StashKey[list[Page]]()


@pytest.fixture
def new_page(
    request: pytest.FixtureRequest, browser: Browser, live_server, browser_problems: BrowserProblems
) -> Iterator[Callable[[], Page]]:
    """Opens a page in a fresh browser context (its own cookies: another visitor) on the live server, watched for
    problems; relative URLs are resolved against the live server."""
    contexts: list[BrowserContext] = []
    pages = request.node.stash.setdefault(PAGES, [])

    def open_page() -> Page:
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        watch(page, browser_problems)
        pages.append(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


@pytest.fixture
def superuser(live_server, django_user_model):
    return django_user_model.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)


@pytest.fixture
def admin_page(page: Page, superuser) -> Page:
    """The page of a signed-in superuser."""
    sign_in(page)
    return page


def _open_pages(item: pytest.Item) -> list[Page]:
    return [page for page in item.stash.get(PAGES, []) if not page.is_closed()]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that passed still fails when the browser reported a problem it did not expect."""
    result = yield
    problems: BrowserProblems | None = getattr(item, "funcargs", {}).get("browser_problems")
    if problems is not None:
        for page in _open_pages(item):
            settle(page)
        found = problems.report()
        if found:
            pytest.fail("the browser reported:\n  " + "\n  ".join(found), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """When a test fails: what the browser reported (for a test that failed on its own assertion too), and a
    screenshot of each of its pages, under this run's DATA_DIR."""
    report: pytest.TestReport = yield
    if report.when != "call" or not report.failed:
        return report
    problems: BrowserProblems | None = getattr(item, "funcargs", {}).get("browser_problems")
    if (
        problems is not None
        and problems.problems
        and call.excinfo
        and "the browser reported" not in str(call.excinfo.value)
    ):
        report.sections.append(("the browser reported", "\n".join(problems.problems)))
    from django.conf import settings

    folder = Path(settings.DATA_DIR) / "browser-screenshots"
    shots = []
    for number, page in enumerate(_open_pages(item), start=1):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{re.sub(r'[^\w.-]+', '_', item.nodeid)}-{number}.png"
        try:
            page.screenshot(path=path, full_page=True)
            shots.append(f"{path} (of {page.url})")
        except Exception as error:
            shots.append(f"none of {page.url}: {error}")
    if shots:
        report.sections.append(("screenshots", "\n".join(shots)))
    return report
