from __future__ import annotations

import pytest
from django.urls import reverse
from openapi_spec_validator import validate

from apps.accounts.tests.conftest import url

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    url("otp-request"): {"post": True},
    url("otp-verify"): {"post": True},
    url("token-refresh"): {"post": True},
    url("logout"): {"post": True},
    url("me"): {"get": False, "patch": True},
    url("me-delete"): {"post": False},
    url("me-delete-confirm"): {"post": True},
    url("me-avatar"): {"post": True},
    url("me-telegram"): {"post": True, "delete": False},
    url("me-telegram-confirm"): {"post": True},
    url("me-activity"): {"get": False},
}


def test_every_endpoint_is_in_the_schema_with_its_bodies(client):
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    for path, methods in ENDPOINTS.items():
        assert path in schema["paths"], path
        for method, has_body in methods.items():
            operation = schema["paths"][path][method]
            assert ("requestBody" in operation) is has_body, (path, method)
            success = next(code for code in operation["responses"] if code.startswith("2"))
            if success != "204":
                assert operation["responses"][success]["content"]["application/json"]["schema"], (path, method)
    verify_ok = schema["paths"][url("otp-verify")]["post"]["responses"]["200"]
    ref = verify_ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"access", "refresh", "user"} <= set(schema["components"]["schemas"][ref]["properties"])
    request_codes = schema["paths"][url("otp-request")]["post"]["responses"]
    assert {"200", "400", "429", "503"} <= set(request_codes)
    link = schema["paths"][url("me-telegram")]["post"]["responses"]
    assert {"200", "400", "401", "429", "503"} <= set(link)
    confirm = schema["paths"][url("me-telegram-confirm")]["post"]["requestBody"]["content"]
    ref = confirm["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["required"]) == {"telegram_code", "account_code"}
    avatar = schema["paths"][url("me-avatar")]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in avatar
