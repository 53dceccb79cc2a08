"""The support endpoints in the OpenAPI schema: every one described with its bodies and error answers, uploads only
where files are taken, and the schema built without a warning about any of them."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

TICKET = "/api/support/tickets/{number}/"
STAFF_TICKET = "/api/support/queue/{number}/"
OPERATIONS = {
    "/api/support/tickets/": {
        "get": ("200", {"400", "401"}),
        "post": ("201", {"400", "401", "413", "429", "503"}),
    },
    TICKET: {"get": ("200", {"401", "404"})},
    f"{TICKET}messages/": {"post": ("201", {"400", "401", "404", "409", "413", "429"})},
    f"{TICKET}read/": {"post": ("200", {"401", "404"})},
    "/api/support/categories/": {"get": ("200", {"401"})},
    "/api/support/attachments/{token}/": {"get": ("200", {"401", "404"})},
    "/api/support/queue/": {"get": ("200", {"400", "401", "403"})},
    STAFF_TICKET: {"get": ("200", {"401", "403", "404"})},
    f"{STAFF_TICKET}messages/": {"post": ("201", {"400", "401", "403", "404", "409", "413"})},
    f"{STAFF_TICKET}status/": {"post": ("200", {"400", "401", "403", "404", "409"})},
    f"{STAFF_TICKET}priority/": {"post": ("200", {"400", "401", "403", "404"})},
    f"{STAFF_TICKET}assign/": {"post": ("200", {"400", "401", "403", "404"})},
    f"{STAFF_TICKET}read/": {"post": ("200", {"401", "403", "404"})},
    "/api/support/canned-replies/": {"get": ("200", {"401", "403"})},
}
UPLOADS = {("/api/support/tickets/", "post"), (f"{TICKET}messages/", "post"), (f"{STAFF_TICKET}messages/", "post")}


def component(schema: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
    found: dict[str, Any] = schema["components"]["schemas"][ref]
    return found


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        from django.test import Client

        response = Client().get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    value: dict[str, Any] = response.json()
    return value


def test_the_schema_is_valid_openapi(schema):
    validate(schema)


def test_every_support_operation_is_described_with_its_answers(schema):
    for path, methods in OPERATIONS.items():
        for method, (success, errors) in methods.items():
            operation = schema["paths"][path][method]
            assert operation["tags"] == ["support"], (path, method)
            assert operation["summary"] and operation["description"], (path, method)
            codes = set(operation["responses"])
            assert success in codes and errors <= codes, (path, method, codes)
            for code, answer in operation["responses"].items():
                if code[0] in "45":
                    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Error"), (path, code)


def test_files_are_taken_only_where_a_message_is_written(schema):
    for path, methods in OPERATIONS.items():
        for method in methods:
            body = schema["paths"][path][method].get("requestBody", {}).get("content", {})
            assert ("multipart/form-data" in body) is ((path, method) in UPLOADS), (path, method, set(body))
    create = schema["paths"]["/api/support/tickets/"]["post"]["requestBody"]["content"]
    assert {"subject", "body", "category", "files"} <= set(
        component(schema, create["multipart/form-data"])["properties"]
    )
    reply = schema["paths"][f"{STAFF_TICKET}messages/"]["post"]["requestBody"]["content"]
    assert {"body", "internal", "canned_reply", "files"} <= set(
        component(schema, reply["application/json"])["properties"]
    )


def test_customers_answers_carry_no_sla_clocks_and_staff_answers_do(schema):
    customer = component(schema, schema["paths"][TICKET]["get"]["responses"]["200"]["content"]["application/json"])
    staff = component(schema, schema["paths"][STAFF_TICKET]["get"]["responses"]["200"]["content"]["application/json"])
    sla = {"first_response_due_at", "resolution_due_at", "first_response_breached", "paused", "assignee", "requester"}
    assert not sla & set(customer["properties"])
    assert sla | {"history", "next_statuses", "messages"} <= set(staff["properties"])
    assert {"messages", "unread", "status"} <= set(customer["properties"])


def test_the_download_is_documented_as_a_file(schema):
    answer = schema["paths"]["/api/support/attachments/{token}/"]["get"]["responses"]["200"]["content"]
    assert answer["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}


def test_the_schema_is_built_without_warnings_about_support(db):
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        SchemaGenerator().get_schema(request=None, public=True)
    found = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    GENERATOR_STATS.reset()
    about_support = [message for message in found if "support" in message.lower()]
    assert about_support == []
