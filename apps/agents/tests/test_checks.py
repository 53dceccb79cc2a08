"""The system checks of the agents app's allow-lists (AGENTS__ORM_MODELS, AGENTS__ALLOWED_TASKS), run as
`manage.py check` runs them."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import CheckMessage, run_checks

VALID_MODELS = [
    {
        "MODEL": "knowbase.Document",
        "FIELDS": ["id", "title", "visibility", "owner", "created_at"],
        "OWNER_FIELD": "owner",
    },
    {"MODEL": "knowbase.Category", "FIELDS": ["id", "name", "slug"], "OWNER_FIELD": ""},
    {"MODEL": "accounts.User", "FIELDS": ["id", "email", "last_login"], "OWNER_FIELD": ""},
]


@pytest.fixture
def agents(settings: Any) -> Any:
    def configure(models: list[dict[str, Any]] | None = None, tasks: list[str] | None = None) -> list[CheckMessage]:
        settings.AGENTS = {
            **settings.AGENTS,
            "ORM_MODELS": VALID_MODELS if models is None else models,
            "ALLOWED_TASKS": tasks or [],
        }
        return [message for message in run_checks(tags=["agents"]) if (message.id or "").startswith("agents.")]

    return configure


def entry(model: str, fields: list[str], owner_field: str = "") -> dict[str, Any]:
    return {"MODEL": model, "FIELDS": fields, "OWNER_FIELD": owner_field}


def test_the_default_allow_lists_pass():
    assert [message for message in run_checks(tags=["agents"]) if (message.id or "").startswith("agents.")] == []


def test_a_valid_allow_list_passes(agents):
    assert agents(tasks=["apps.tasks.tests.jobs.add", "apps.knowbase.tasks.process_document"]) == []


def test_a_model_that_is_not_installed_is_reported(agents):
    [error] = agents([entry("knowbase.Nothing", ["id"])])

    assert error.id == "agents.E001"
    assert error.msg == "AGENTS__ORM_MODELS names 'knowbase.Nothing', which is not an installed model."
    assert "remove the entry from AGENTS__ORM_MODELS" in error.hint


@pytest.mark.parametrize(
    "field",
    [
        "is_public",  # a property
        "chunks",  # a reverse relation
        "summary",  # nothing at all
    ],
)
def test_a_field_that_is_not_a_column_of_the_model_is_reported(agents, field):
    [error] = agents([entry("knowbase.Document", ["id", field], "owner")])

    assert error.id == "agents.E003"
    assert (
        error.msg
        == f"AGENTS__ORM_MODELS lists '{field}' for knowbase.Document, which is not one of its concrete fields."
    )
    assert "AGENTS__ORM_MODELS" in error.hint


def test_a_many_to_many_field_is_reported(agents):
    [error] = agents([entry("agents.AgentDefinition", ["id", "groups"])])

    assert (error.id, "'groups'" in error.msg) == ("agents.E003", True)


def test_the_users_password_is_reported_but_last_login_is_fine(agents):
    [error] = agents([entry("accounts.User", ["id", "email", "password", "last_login"])])

    assert error.id == "agents.E002"
    assert error.msg == "AGENTS__ORM_MODELS lists 'password' of the user model, which looks like a credential."
    assert error.hint.startswith("Remove 'password' from the entry's fields in AGENTS__ORM_MODELS")


def test_a_credential_like_field_of_any_model_is_reported(agents):
    [error] = agents([entry("accounts.OtpRequest", ["id", "code_hash"])])

    assert error.id == "agents.E002"
    assert "'code_hash' of accounts.OtpRequest" in error.msg


@pytest.mark.parametrize("owner_field", ["title", "category", "missing"])
def test_an_owner_field_that_is_not_a_foreign_key_to_the_user_is_reported(agents, owner_field):
    [error] = agents([entry("knowbase.Document", ["id", "title"], owner_field)])

    assert error.id == "agents.E004"
    assert error.msg == (
        f"AGENTS__ORM_MODELS gives '{owner_field}' as the owner field of knowbase.Document, which is not a foreign "
        "key to accounts.User."
    )
    assert "leave it empty in AGENTS__ORM_MODELS to make the model readable by staff only" in error.hint


def test_a_task_path_that_does_not_import_is_reported(agents):
    [error] = agents(tasks=["apps.tasks.tests.jobs.missing"])

    assert error.id == "agents.E005"
    assert error.msg.startswith("AGENTS__ALLOWED_TASKS names 'apps.tasks.tests.jobs.missing', which cannot be imported")
    assert "remove it from AGENTS__ALLOWED_TASKS" in error.hint


def test_a_task_path_that_is_not_a_task_is_reported(agents):
    [error] = agents(tasks=["apps.tasks.tests.jobs._redis"])

    assert error.id == "agents.E006"
    assert error.msg == "AGENTS__ALLOWED_TASKS names 'apps.tasks.tests.jobs._redis', which is not a task."
    assert "@task" in error.hint
