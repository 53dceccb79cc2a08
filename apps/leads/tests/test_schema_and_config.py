"""The leads endpoints in the OpenAPI schema with their bodies and errors, and the LEADS__ settings."""

from __future__ import annotations

import pytest
from django.urls import reverse
from openapi_spec_validator import validate

from cfg.exceptions import ConfigurationError
from config.config import ProjectConfig

ENDPOINTS = {
    reverse("leads:submit"): {"post": ("202", {"400", "413", "429", "503"})},
    reverse("leads:form-token"): {"get": ("200", {"429"})},
    reverse("leads:leads"): {"get": ("200", {"400", "401", "403"})},
    "/api/leads/{lead_id}/": {"get": ("200", {"401", "403", "404"})},
    "/api/leads/{lead_id}/status/": {"post": ("200", {"400", "401", "403", "404", "409"})},
    "/api/leads/{lead_id}/assign/": {"post": ("200", {"400", "401", "403", "404"})},
    "/api/leads/{lead_id}/notes/": {"post": ("201", {"400", "401", "403", "404"})},
}


@pytest.mark.django_db
def test_every_leads_endpoint_is_in_the_schema_with_its_answers(client):
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    validate(schema)
    for path, methods in ENDPOINTS.items():
        for method, (success, errors) in methods.items():
            operation = schema["paths"][path][method]
            assert operation["tags"] == ["leads"]
            assert success in operation["responses"] and errors <= set(operation["responses"]), (path, method)
    submit = schema["paths"][reverse("leads:submit")]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(submit)
    ref = submit["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = set(schema["components"]["schemas"][ref]["properties"])
    assert {"name", "email", "form_token", "consent", "utm_source"} <= properties
    assert not properties & {"status", "assignee"}


def leads_settings(**environ: str) -> dict[str, object]:
    generated: dict[str, object] = ProjectConfig.load(environ={"DJANGO_ENV": "test", **environ}).get_all_settings()
    return generated["LEADS"]  # type: ignore[return-value]


def test_the_defaults_and_what_the_environment_changes():
    defaults = leads_settings()
    assert defaults["THROTTLE_RATES"] == {"leads_submit": "10/hour"}
    assert (defaults["MIN_FILL_SECONDS"], defaults["DEDUP_WINDOW"], defaults["EMBED_ORIGINS"]) == (3, 600, [])
    assert defaults["TURNSTILE_SITE_KEY"] == defaults["TURNSTILE_SECRET_KEY"] == ""
    changed = leads_settings(
        LEADS__THROTTLE_SUBMIT="5/minute",
        LEADS__EMBED_ORIGINS="https://www.example.com/,https://shop.example.com",
        LEADS__CONSENT_VERSION="2025-06",
        LEADS__TURNSTILE_SITE_KEY="site",
        LEADS__TELEGRAM_CHAT_ID="-100",
    )
    assert changed["THROTTLE_RATES"] == {"leads_submit": "5/minute"}
    assert changed["EMBED_ORIGINS"] == ["https://www.example.com", "https://shop.example.com"]
    assert changed["CONSENT_VERSION"] == "2025-06" and changed["TELEGRAM_CHAT_ID"] == "-100"
    assert changed["TURNSTILE_SITE_KEY"] == ""  # a site key alone does not switch Turnstile on
    both = leads_settings(LEADS__TURNSTILE_SITE_KEY="site", LEADS__TURNSTILE_SECRET_KEY="secret")
    assert (both["TURNSTILE_SITE_KEY"], both["TURNSTILE_SECRET_KEY"]) == ("site", "secret")


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("LEADS__EMBED_ORIGINS", "www.example.com", "is not scheme://host[:port]"),
        ("LEADS__EMBED_ORIGINS", "https://example.com/form", "is not scheme://host[:port]"),
        ("LEADS__THROTTLE_SUBMIT", "often", "leads.throttle_submit"),
        ("LEADS__MIN_FILL_SECONDS", "-1", "leads.min_fill_seconds"),
    ],
)
def test_a_bad_value_stops_start_up_naming_it(name, value, words):
    with pytest.raises(ConfigurationError) as info:
        leads_settings(**{name: value})
    assert words in info.value.message
