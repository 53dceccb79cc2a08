"""The agents API's list of agents (who may run which), and the schema of every agents operation."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from apps.agents.models import Access
from apps.agents.tests.factories import agent_create

pytestmark = pytest.mark.django_db

AGENTS = reverse("agents:agents")
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def names(client: APIClient) -> list[str]:
    response = client.get(AGENTS)
    assert response.status_code == 200, response.json()
    return [agent["name"] for agent in response.json()["results"]]


def test_listing_agents_needs_a_signed_in_user():
    response = APIClient().get(AGENTS)
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"


def test_a_user_sees_the_agents_open_to_all_users_and_to_their_groups(ada, ada_api, eve_api):
    gardeners = Group.objects.create(name="gardeners")
    ada.groups.add(gardeners)
    agent_create("open", access=Access.USERS)
    agent_create("staff-only", access=Access.STAFF)
    agent_create("off", access=Access.USERS, is_active=False)
    for_gardeners = agent_create("gardening", access=Access.GROUPS)
    for_gardeners.groups.add(gardeners)
    agent_create("for-nobody", access=Access.GROUPS)

    assert names(ada_api) == ["gardening", "open"]
    assert names(eve_api) == ["open"]  # another group's agent is not even listed


def test_staff_see_every_active_agent(staff_api):
    agent_create("open", access=Access.USERS)
    agent_create("staff-only", access=Access.STAFF)
    agent_create("for-nobody", access=Access.GROUPS)
    agent_create("off", access=Access.USERS, is_active=False)
    assert names(staff_api) == ["for-nobody", "open", "staff-only"]


def test_an_agent_is_described_by_its_toolsets_and_output(ada_api):
    agent_create(
        "librarian", toolsets=["knowbase", "gone"], description="Answers from your documents", output_schema=SCHEMA
    )
    agent_create("chatty")

    body = ada_api.get(AGENTS).json()

    assert body["count"] == 2
    chatty, librarian = body["results"]
    assert chatty == {
        "name": "chatty",
        "description": "",
        "toolsets": [],
        "structured": False,
        "output_schema": None,
    }
    assert librarian["structured"] is True and librarian["output_schema"] == SCHEMA
    assert librarian["description"] == "Answers from your documents"
    # A toolset that is not available (its app switched off) is not offered: the agent runs without it.
    [toolset] = librarian["toolsets"]
    assert toolset["name"] == "knowbase" and toolset["title"] == "Knowledge base" and toolset["description"]
    assert "instructions" not in librarian  # the system prompt stays with staff


def test_the_list_takes_a_fixed_number_of_queries(ada, ada_api, django_assert_max_num_queries):
    group = Group.objects.create(name="gardeners")
    ada.groups.add(group)
    for number in range(8):
        agent = agent_create(f"agent-{number}", access=Access.GROUPS if number % 2 else Access.USERS)
        agent.groups.add(group)
    # The user (JWT), the last-activity stamp, the count, the page: as many for 8 agents as for 1.
    with django_assert_max_num_queries(4):
        assert len(names(ada_api)) == 8


def test_a_page_that_does_not_exist_is_a_404_not_a_500(ada_api):
    agent_create()
    response = ada_api.get(AGENTS, {"page": "last-but-one"})
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid page."
    response = ada_api.get(AGENTS, {"page": 9})
    assert response.status_code == 404


# The schema of every agents operation.

OPERATIONS = {
    "/api/agents/": {"get": {"200", "401"}},
    "/api/agents/conversations/": {"get": {"200", "401"}, "post": {"201", "400", "401", "404", "413"}},
    "/api/agents/conversations/{conversation_id}/": {
        "get": {"200", "401", "404"},
        "delete": {"204", "401", "404", "409"},
    },
    "/api/agents/conversations/{conversation_id}/messages/": {
        "post": {"202", "400", "401", "404", "409", "413", "429", "503"}
    },
    "/api/agents/runs/{run_id}/": {"get": {"200", "401", "404"}},
    "/api/agents/runs/{run_id}/events/": {"get": {"200", "204", "400", "401", "404"}},
    "/api/agents/runs/{run_id}/cancel/": {"post": {"200", "202", "401", "404", "409"}},
    "/api/agents/approvals/": {"get": {"200", "401", "403"}},
    "/api/agents/tool-calls/{tool_call_id}/approve/": {"post": {"200", "400", "401", "403", "404", "409"}},
    "/api/agents/tool-calls/{tool_call_id}/deny/": {"post": {"200", "400", "401", "403", "404", "409"}},
}


def test_every_operation_is_in_the_schema_described_with_its_errors(client):
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    validate(schema)
    agents_paths = {path for path in schema["paths"] if path.startswith("/api/agents/")}
    assert agents_paths == set(OPERATIONS)
    for path, methods in OPERATIONS.items():
        assert set(schema["paths"][path]) - {"parameters"} == set(methods), path
        for method, codes in methods.items():
            operation = schema["paths"][path][method]
            assert operation["description"] and operation["summary"], (path, method)
            assert operation["tags"] == ["agents"], (path, method)
            assert codes <= set(operation["responses"]), (path, method, set(operation["responses"]))
            for code, answer in operation["responses"].items():
                if code[0] in "45":
                    assert answer["description"], (path, method, code)
                    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    events = schema["paths"]["/api/agents/runs/{run_id}/events/"]["get"]
    assert {"application/json", "text/event-stream"} == set(events["responses"]["200"]["content"])
    # The answer that stops a reconnecting EventSource, said in the operation's description and as a response.
    assert (
        "204 No Content" in events["description"]
        and "Server-Sent Events only" in events["responses"]["204"]["description"]
    )
    assert {(parameter["in"], parameter["name"]) for parameter in events["parameters"]} >= {
        ("query", "after"),
        ("header", "Last-Event-ID"),
    }
