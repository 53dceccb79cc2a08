"""Every error answers one JSON shape, the `Error` component of the schema: the bodies the API really sends are
checked against the component served at /api/schema/, and every documented error answer names it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as DjangoClient
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.models import User
from apps.accounts.tests.conftest import bearer, request_code, url, verify
from modules.email.testing import free_port, smtp_mailers

pytestmark = pytest.mark.django_db

DEEP_JSON = "[" * 100_000 + "]" * 100_000


@cache
def served_schema() -> dict[str, Any]:
    response = DjangoClient().get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def error_component() -> dict[str, Any]:
    component: dict[str, Any] = served_schema()["components"]["schemas"]["Error"]
    return component


def owner_of_another_token(api: APIClient, user: User) -> Any:
    other = User.objects.create_user(email="eve@example.com")
    bearer(api, str(RefreshToken.for_user(other).access_token))
    return api.post(url("logout"), {"refresh": str(RefreshToken.for_user(user))}, format="json")


def throttled(api: APIClient, settings: Any) -> Any:
    rates = {**settings.ACCOUNTS["THROTTLE_RATES"], "verify_ip": "1/hour"}
    settings.ACCOUNTS = {**settings.ACCOUNTS, "THROTTLE_RATES": rates}
    verify(api, "ada@example.com", "123456")
    return verify(api, "ada@example.com", "123456")


def oversized(api: APIClient, settings: Any) -> Any:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    return api.post(url("otp-request"), {"identifier": "a@example.com", "padding": "x" * 20_000}, format="json")


def not_an_image(signed_in: APIClient) -> Any:
    upload = SimpleUploadedFile("me.png", b"<?php echo 1; ?>", content_type="image/png")
    return signed_in.post(url("me-avatar"), {"avatar": upload}, format="multipart")


def provider_outage(api: APIClient, settings: Any) -> Any:
    settings.MAILERS = smtp_mailers(free_port())  # nothing listens there
    return request_code(api, "a@example.com")


# (name, expected status, expected error_code, how to get the answer from (api, signed_in, user, settings, smtp))
Case = tuple[str, int, str, Callable[[APIClient, APIClient, User, Any, Any], Any]]
CASES: list[Case] = [
    ("field validation", 400, "invalid", lambda api, *_: api.post(url("otp-request"), {}, format="json")),
    ("a field named code", 400, "invalid", lambda api, *_: verify(api, "a@example.com", "12")),
    ("non-field validation", 400, "invalid", lambda _, me, *__: me.patch(url("me"), {"id": 1}, format="json")),
    ("service error", 400, "channel_unavailable", lambda api, *_: request_code(api, "+15551234567", "sms")),
    ("wrong sign-in code", 400, "invalid_code", lambda api, *_: verify(api, "a@example.com", "123456")),
    ("field service error", 400, "invalid_avatar", lambda _, me, *__: not_an_image(me)),
    (
        "wrong change codes",
        400,
        "wrong_codes",
        lambda _, me, *__: me.post(
            url("me-email-confirm"), {"new_code": "123456", "account_code": "123456"}, format="json"
        ),
    ),
    (
        "malformed JSON",
        400,
        "parse_error",
        lambda api, *_: api.post(url("otp-request"), "{x", content_type="application/json"),
    ),
    ("not signed in", 401, "not_authenticated", lambda api, *_: api.get(url("me"))),
    ("bad access token", 401, "token_not_valid", lambda api, *_: bearer(api, "garbage").get(url("me"))),
    (
        "bad refresh token",
        401,
        "token_not_valid",
        lambda api, *_: api.post(url("token-refresh"), {"refresh": "x"}, format="json"),
    ),
    ("another user's token", 403, "permission_denied", lambda api, _, user, *__: owner_of_another_token(api, user)),
    ("no such page", 404, "not_found", lambda _, me, *__: me.get(url("me-activity"), {"page": 99})),
    ("method not allowed", 405, "method_not_allowed", lambda api, *_: api.get(url("otp-request"))),
    ("body too large", 413, "payload_too_large", lambda api, _, __, settings, ___: oversized(api, settings)),
    ("throttled", 429, "throttled", lambda api, _, __, settings, ___: throttled(api, settings)),
    ("provider outage", 503, "provider_unavailable", lambda api, *rest: provider_outage(api, rest[-2])),
]


@pytest.mark.parametrize(("name", "status", "error_code", "answer"), CASES, ids=[case[0] for case in CASES])
def test_error_bodies_match_the_error_component_of_the_schema(
    api, signed_in, user, settings, smtp, name, status, error_code, answer
):
    anonymous = APIClient(raise_request_exception=False)
    response = answer(anonymous, signed_in, user, settings, smtp)
    assert response.status_code == status, response.content
    body = response.json()
    jsonschema.validate(body, error_component())
    assert body["error_code"] == error_code
    assert body["detail"] and "\n" not in body["detail"]


def test_a_validation_error_keeps_the_field_lists_and_sums_them_up_in_detail(api):
    body = api.post(url("otp-request"), {"channel": "fax"}, format="json").json()
    assert body == {
        "identifier": ["This field is required."],
        "channel": ['"fax" is not a valid choice.'],
        "detail": 'identifier: This field is required. channel: "fax" is not a valid choice.',
        "error_code": "invalid",
    }


def test_a_field_named_code_does_not_collide_with_the_error_code(api):
    body = verify(api, "a@example.com", "12").json()
    assert body["code"] == ["The code is 6 digits."]
    assert body["error_code"] == "invalid"


def test_every_documented_error_answer_is_the_error_component():
    operations = [
        (path, method, operation)
        for path, methods in served_schema()["paths"].items()
        for method, operation in methods.items()
    ]
    documented = 0
    for path, method, operation in operations:
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                documented += 1
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
    assert documented >= 30


def test_the_error_component_allows_only_string_lists_beside_detail_and_error_code():
    component = error_component()
    assert set(component["required"]) == {"detail", "error_code"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"detail": "x", "error_code": "y", "field": [{"nested": "object"}]}, component)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"detail": ["a list"], "error_code": "invalid"}, component)


# Bodies Django would answer with an HTML page or a 500 are JSON errors too.


def test_malformed_json_is_a_400(api):
    response = api.post(url("otp-request"), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize("path", [url("otp-request"), url("otp-verify"), url("token-refresh"), url("logout")])
def test_a_deeply_nested_body_to_a_sign_in_endpoint_is_refused_unread(path):
    # Nesting deep enough to break the parser needs more than the 4 KB a sign-in body may have.
    response = APIClient(raise_request_exception=False).post(path, DEEP_JSON, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is too large: this endpoint accepts at most 4096 bytes.",
        "error_code": "payload_too_large",
    }


def test_deeply_nested_json_in_a_profile_update_is_a_400(signed_in):
    signed_in.raise_request_exception = False
    response = signed_in.patch(url("me"), DEEP_JSON, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_an_oversized_body_is_a_json_413(signed_in, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = signed_in.patch(url("me"), {"first_name": "x" * 20_000}, format="json")
    assert response.status_code == 413
    assert "at most 10000 bytes" in response.json()["detail"]


def test_too_many_form_fields_is_a_json_400(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"f{n}=x" for n in range(20)) + "&identifier=a@example.com"
    response = api.post(url("otp-request"), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "number of GET/POST parameters exceeded" in response.json()["detail"]
