"""Approvals through the API: a tool that needs a staff decision pauses the run; staff approve or deny it, and the
run resumes with the decision. Only staff decide."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from apps.agents.models import AgentRun, Conversation, RunStatus, ToolCall, ToolCallStatus
from apps.agents.tests.factories import agent_create, client_for, conversation_for, staff_create, user_create
from apps.knowbase.models import Document
from apps.knowbase.tests.factories import document_create
from modules.llm.testing import OpenAIStandIn

pytestmark = pytest.mark.django_db

APPROVALS = reverse("agents:approvals")


def decide_url(call_id: int, verb: str) -> str:
    return reverse(f"agents:tool-call-{verb}", args=[call_id])


@pytest.fixture
def approver(db: Any) -> Any:
    """A staff member who may decide tool calls: staff with the permission to change them."""
    user = staff_create("approver@example.com")
    user.user_permissions.add(Permission.objects.get(codename="change_toolcall", content_type__app_label="agents"))
    return user


@pytest.fixture
def approver_api(approver: Any) -> APIClient:
    return client_for(approver)


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


def paused_run(client: APIClient, chat: OpenAIStandIn, capture: Any, owner: Any) -> tuple[Document, dict[str, Any]]:
    """A run of `owner` that asked to reprocess one of their documents: paused for a staff decision."""
    document = document_create(owner=owner)
    conversation = conversation_for(owner, agent_create(f"librarian-{owner.pk}", toolsets=["knowbase"]))
    chat.reply(tool_calls=[("reprocess_document", {"document_id": document.pk})])
    with capture(execute=True):
        response = message(client, conversation, "My notes look wrong: process them again.")
    assert response.status_code == 202, response.json()
    run: dict[str, Any] = client.get(reverse("agents:run", args=[response.json()["id"]])).json()
    return document, run


def message(client: APIClient, conversation: Conversation, text: str) -> Any:
    return client.post(reverse("agents:conversation-messages", args=[conversation.pk]), {"text": text})


def decided(client: APIClient, call_id: int, verb: str, note: str, capture: Any) -> dict[str, Any]:
    """Approve or deny (`verb`) the call with `note`; the run resumes when the decision commits. The decided call."""
    with capture(execute=True):
        response = client.post(decide_url(call_id, verb), {"note": note}, format="json")
    assert response.status_code == 200, response.json()
    call: dict[str, Any] = response.json()
    return call


# The pause and the queue.


def test_a_tool_that_needs_approval_pauses_the_run_and_joins_the_queue(
    ada, ada_api, staff_api, approver_api, chat: OpenAIStandIn, capture
):
    document, run = paused_run(ada_api, chat, capture, ada)

    assert run["status"] == "waiting_for_approval"
    [call] = run["tool_calls"]
    assert call["tool"] == "reprocess_document" and call["status"] == "awaiting_approval"
    assert call["requires_approval"] is True and call["arguments"] == {"document_id": document.pk}
    events = ada_api.get(reverse("agents:run-events", args=[run["id"]])).json()
    kinds = [event["kind"] for event in events["events"]]
    assert kinds[-2:] == ["approval_request", "status"] and events["done"] is True
    request = events["events"][-2]["data"]
    assert request["tool_call"] == call["id"] and request["tool"] == "reprocess_document"

    queue = approver_api.get(APPROVALS)

    assert queue.status_code == 200
    [item] = queue.json()["results"]
    assert item == {
        "id": call["id"],
        "toolset": "knowbase",
        "tool": "reprocess_document",
        "arguments": {"document_id": document.pk},
        "run": run["id"],
        "conversation": run["conversation"],
        "agent": f"librarian-{ada.pk}",
        "owner_email": "ada@example.com",
        "requested_at": item["requested_at"],
    }
    # Staff decide calls; they do not read other users' runs in this API (the admin shows them).
    assert staff_api.get(reverse("agents:run", args=[run["id"]])).status_code == 404


def test_the_queue_takes_a_fixed_number_of_queries(
    approver_api, chat: OpenAIStandIn, capture, django_assert_max_num_queries
):
    for number in range(4):
        owner = user_create(f"user{number}@example.com")
        paused_run(client_for(owner), chat, capture, owner)
    # The staff member (JWT), the last-activity stamp, their permissions and their groups' (may they decide?), the
    # count, the page with runs, agents and owners.
    with django_assert_max_num_queries(6):
        response = approver_api.get(APPROVALS)
    assert response.json()["count"] == 4


# Deciding.


def test_staff_approve_and_the_run_resumes_and_succeeds(
    ada, ada_api, approver, approver_api, chat: OpenAIStandIn, capture
):
    document, run = paused_run(ada_api, chat, capture, ada)
    [call] = run["tool_calls"]
    attempts = document.attempts
    chat.reply("Your notes are being processed again.")

    decision = decided(approver_api, call["id"], "approve", "Fine", capture)

    assert decision["decision"] == "approved" and decision["decided_by"] == approver.pk and decision["decided_at"]
    assert decision["decision_note"] == "Fine" and decision["run"]["id"] == run["id"]
    run = ada_api.get(reverse("agents:run", args=[run["id"]])).json()
    assert run["status"] == "succeeded", run["error"]
    assert run["output"] == "Your notes are being processed again."
    [call] = run["tool_calls"]
    assert call["status"] == "succeeded" and call["decision"] == "approved"
    assert call["decided_by"] == approver.pk and call["decided_at"]
    assert call["result"]["document_id"] == document.pk
    document.refresh_from_db()
    assert document.attempts > attempts  # the tool ran: the document was processed again
    row = ToolCall.objects.get(pk=call["id"])
    assert row.decided_by == approver and row.decided_at is not None
    kinds = [event["kind"] for event in ada_api.get(reverse("agents:run-events", args=[run["id"]])).json()["events"]]
    assert "approval_decision" in kinds and kinds[-2:] == ["result", "status"]
    assert approver_api.get(APPROVALS).json()["count"] == 0


def test_staff_deny_and_the_model_is_told_and_the_run_ends(
    ada, ada_api, approver, approver_api, chat: OpenAIStandIn, capture
):
    document, run = paused_run(ada_api, chat, capture, ada)
    [call] = run["tool_calls"]
    attempts = document.attempts
    chat.reply("A staff member declined to reprocess your notes.")

    decision = decided(approver_api, call["id"], "deny", "Not during the audit", capture)

    assert decision["decision"] == "denied"
    run = ada_api.get(reverse("agents:run", args=[run["id"]])).json()
    assert run["status"] == "succeeded"
    assert run["output"] == "A staff member declined to reprocess your notes."
    [call] = run["tool_calls"]
    assert call["status"] == "denied" and call["decision"] == "denied" and call["decided_by"] == approver.pk
    assert call["decision_note"] == "Not during the audit"
    # The model was told, in the tool's answer, that the call was denied and why.
    told = json.dumps(chat.chat_requests[-1].body)
    assert "denied" in told and "Not during the audit" in told
    document.refresh_from_db()
    assert document.attempts == attempts  # the tool never ran


# Who may, and what cannot be decided.


@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_only_staff_with_the_permission_decide(ada, ada_api, eve_api, staff_api, chat: OpenAIStandIn, capture, verb):
    _, run = paused_run(ada_api, chat, capture, ada)
    [call] = run["tool_calls"]

    anonymous = APIClient().post(decide_url(call["id"], verb))
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "not_authenticated"
    # Not even the run's owner; nor a staff member without the permission to change tool calls.
    for client in (ada_api, eve_api, staff_api):
        response = client.post(decide_url(call["id"], verb), {"note": "Mine"}, format="json")
        assert response.status_code == 403
        assert response.json() == {
            "detail": "Deciding on tool calls takes a staff account with the permission to change tool calls.",
            "error_code": "permission_denied",
        }
    # Before anything else is looked at: an unknown call is not told apart from a real one.
    assert staff_api.post(decide_url(999_999, verb)).status_code == 403
    assert ToolCall.objects.get(pk=call["id"]).decision == ""
    assert AgentRun.objects.get(pk=run["id"]).status == RunStatus.WAITING_FOR_APPROVAL


def test_only_those_who_may_decide_see_the_queue(ada_api, staff_api, approver_api):
    assert APIClient().get(APPROVALS).status_code == 401
    for client in (ada_api, staff_api):  # a user; staff without the permission to change tool calls
        response = client.get(APPROVALS)
        assert response.status_code == 403 and response.json()["error_code"] == "permission_denied"
    assert approver_api.get(APPROVALS).status_code == 200


def test_a_decided_call_cannot_be_decided_again(ada, ada_api, approver_api, chat: OpenAIStandIn, capture):
    _, run = paused_run(ada_api, chat, capture, ada)
    [call] = run["tool_calls"]
    chat.reply("Done.")
    with capture(execute=True):
        assert approver_api.post(decide_url(call["id"], "approve")).status_code == 200

    for verb in ("approve", "deny"):
        response = approver_api.post(decide_url(call["id"], verb))
        assert response.status_code == 409
        assert response.json()["error_code"] == "tool_call_decided"


def test_a_call_of_a_cancelled_run_or_one_that_needed_no_approval_is_not_pending(
    ada, ada_api, approver_api, chat: OpenAIStandIn, capture
):
    _, run = paused_run(ada_api, chat, capture, ada)
    [call] = run["tool_calls"]
    assert ada_api.post(reverse("agents:run-cancel", args=[run["id"]])).status_code == 200
    assert approver_api.post(decide_url(call["id"], "approve")).status_code == 409
    assert ToolCall.objects.get(pk=call["id"]).status == ToolCallStatus.DENIED

    conversation = conversation_for(ada, agent_create("searcher", toolsets=["knowbase"]))
    chat.reply(tool_calls=[("search_documents", {"query": "tomatoes"})])
    chat.reply("Found them.")
    with capture(execute=True):
        searched = message(ada_api, conversation, "Find my tomato notes")
    [search] = ada_api.get(reverse("agents:run", args=[searched.json()["id"]])).json()["tool_calls"]
    response = approver_api.post(decide_url(search["id"], "approve"))
    assert response.status_code == 409 and response.json()["error_code"] == "tool_call_decided"


def test_an_unknown_call_is_a_404(approver_api):
    for verb in ("approve", "deny"):
        response = approver_api.post(decide_url(999_999, verb))
        assert response.status_code == 404
        assert response.json()["detail"] == "No tool call with this id."


@pytest.mark.parametrize(
    ("payload", "message_"),
    [
        ({"note": "n" * 501}, "Ensure this field has no more than 500 characters."),
        ({"note": ["why"]}, "Not a valid string."),
        ({"note": None}, "This field may not be null."),
    ],
)
def test_a_bad_note_is_a_400_and_decides_nothing(
    ada, ada_api, approver_api, chat: OpenAIStandIn, capture, payload, message_
):
    _, run = paused_run(ada_api, chat, capture, ada)
    [call] = run["tool_calls"]

    response = approver_api.post(decide_url(call["id"], "approve"), payload, format="json")

    assert response.status_code == 400
    assert response.json()["note"] == [message_]
    assert ToolCall.objects.get(pk=call["id"]).decision == ""
