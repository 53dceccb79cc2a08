"""The agents' approval queue in a real browser: a run paused on a tool that needs approval (reprocessing one of the
user's documents), a staff member approves it from the queue's row menu (Unfold's dialog, posted by htmx), the run
resumes in that request (the immediate task backend) and its page says it succeeded."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import connection
from playwright.sync_api import Page

from apps.agents import services
from apps.agents.models import AgentDefinition, AgentRun, Decision, RunStatus, ToolCall, ToolCallStatus
from apps.agents.tests import conftest as agents_fixtures
from apps.knowbase.models import Document
from apps.knowbase.tests.factories import document_create, user_create
from modules.llm.testing import OpenAIStandIn


@pytest.fixture(autouse=True)
def _originals_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live server runs in this process: the field's storage is replaced for it too."""
    storage = FileSystemStorage(location=tmp_path / "private")
    monkeypatch.setattr(Document._meta.get_field("original"), "storage", storage)


# The agents tests' chat model: the local OpenAI stand-in (the live server's threads read the same settings).
chat = agents_fixtures.chat


def paused_run(chat: OpenAIStandIn) -> AgentRun:
    """Ada asks her agent to process her notes again: the model calls reprocess_document, which needs approval.

    The message is posted in a thread of its own: the run executes when the message commits (the immediate backend),
    under async_to_sync, which refuses a thread where an event loop runs (Playwright's, in this one)."""
    ada = user_create("ada@example.com")
    document = document_create(owner=ada, title="Greenhouse notes")
    agent = AgentDefinition.objects.create(
        name="librarian", instructions="Help with the user's documents.", toolsets=["knowbase"], access="users"
    )
    conversation = services.conversation_create(owner=ada, agent=agent)
    chat.reply("I will process it again.", tool_calls=[("reprocess_document", {"document_id": document.pk})])
    posted: list[AgentRun] = []

    def post() -> None:
        try:
            posted.append(services.message_post(conversation=conversation, text="Please process my notes again"))
        finally:
            connection.close()

    thread = threading.Thread(target=post)
    thread.start()
    thread.join()
    run = AgentRun.objects.get(pk=posted[0].pk)
    assert run.status == RunStatus.WAITING_FOR_APPROVAL, run.error
    return run


def test_staff_approve_a_call_from_the_queue_and_the_run_succeeds(admin_page: Page, chat: OpenAIStandIn) -> None:
    run = paused_run(chat)
    call = ToolCall.objects.get(run=run, status=ToolCallStatus.AWAITING_APPROVAL)
    chat.reply("Your greenhouse notes are being processed again.")

    admin_page.goto("/admin/agents/pendingapproval/")
    row = admin_page.locator("#result_list tbody tr", has_text="reprocess_document")
    assert row.count() == 1
    assert "ada@example.com" in row.inner_text() and "librarian" in row.inner_text()

    row.locator("span", has_text="more_horiz").click()  # the row's actions menu
    admin_page.locator("nav a", has_text="Approve").click()
    dialog = admin_page.locator("#dialog")
    dialog.wait_for(state="visible")
    assert "Approve this tool call?" in dialog.inner_text() and "document_id" in dialog.inner_text()
    dialog.locator("input[name=note]").fill("Go ahead")
    with admin_page.expect_navigation():
        dialog.locator("button[type=submit]").click()

    # Back on the queue (htmx followed HX-Redirect): the message says the run resumed and succeeded, the queue is empty.
    assert urlsplit(admin_page.url).path == "/admin/agents/pendingapproval/"
    content = admin_page.content()
    assert f"Approved reprocess_document (call #{call.pk})" in content
    assert "resumed and succeeded." in content
    assert admin_page.locator("#result_list tbody tr", has_text="reprocess_document").count() == 0

    with admin_page.expect_navigation():
        admin_page.get_by_role("link", name=f"Run #{run.pk}").first.click()
    assert urlsplit(admin_page.url).path == f"/admin/agents/agentrun/{run.pk}/change/"
    page_text = admin_page.locator("#content-main, main").first.inner_text()
    assert "succeeded" in page_text.lower()
    assert "Your greenhouse notes are being processed again." in page_text

    run.refresh_from_db()
    call.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert (call.status, call.decision, call.decision_note) == (ToolCallStatus.SUCCEEDED, Decision.APPROVED, "Go ahead")
    assert call.decided_by is not None and call.decided_by.email == "browser-admin@example.com"
