"""The database toolset through a real pydantic-ai agent: a scripted model calls list_models, query_records and
count_records, and answers with what the tool gave it (a result, or the message of a refusal)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.models import AgentDefinition
from apps.agents.tests.scripted import ScriptedToolset
from apps.agents.toolsets import available_toolsets
from apps.agents.toolsets.database import SPEC
from apps.knowbase.models import Category, Document
from apps.knowbase.tests.factories import staff_create, user_create
from cfg.models.agents import OrmModelAccess

pytestmark = pytest.mark.django_db

DOCUMENTS = {"MODEL": "knowbase.Document", "FIELDS": ["id", "title", "status", "created_at"], "OWNER_FIELD": "owner"}
CATEGORIES = {"MODEL": "knowbase.Category", "FIELDS": ["id", "name"], "OWNER_FIELD": ""}

ask = ScriptedToolset(SPEC).ask


@pytest.fixture
def allow_list(settings: Any) -> Any:
    def configure(*entries: dict[str, Any], max_rows: int = 50) -> None:
        settings.AGENTS = {**settings.AGENTS, "ORM_MODELS": list(entries), "ORM_MAX_ROWS": max_rows}

    configure(DOCUMENTS, CATEGORIES)
    return configure


def document(owner: Any, title: str, **fields: Any) -> Document:
    return Document.objects.create(owner=owner, title=title, source_name=f"{title}.md", **fields)


def test_the_toolset_is_registered_under_its_name():
    assert available_toolsets()["database"] is SPEC
    toolset = SPEC.build()
    assert isinstance(toolset, FunctionToolset)
    assert set(toolset.tools) == {"list_models", "query_records", "count_records"}


def test_a_user_lists_the_owned_models_with_their_fields_and_types(allow_list):
    ada = user_create("ada@example.com")

    models = ask(ada, "list_models")["models"]

    assert [entry["model"] for entry in models] == ["knowbase.Document"]
    fields = {field["name"]: field for field in models[0]["fields"]}
    assert list(fields) == ["id", "title", "status", "created_at"]
    assert fields["title"]["type"] == "CharField"
    assert fields["created_at"]["type"] == "DateTimeField"
    assert fields["status"]["choices"] == ["pending", "processing", "ready", "failed"]
    assert models[0]["rows"] == "own"


def test_staff_also_list_the_models_without_an_owner_and_see_all_rows(allow_list):
    models = ask(staff_create(), "list_models")["models"]

    assert {entry["model"]: entry["rows"] for entry in models} == {
        "knowbase.Document": "all",
        "knowbase.Category": "all",
    }


def test_a_user_reads_only_their_own_rows_and_only_the_allow_listed_fields(allow_list):
    ada, eve = user_create("ada@example.com"), user_create("eve@example.com")
    mine = document(ada, "Garden notes")
    document(eve, "Eve's diary", visibility="public")

    answer = ask(ada, "query_records", model="knowbase.Document")

    assert answer["rows"] == [
        {"id": mine.pk, "title": "Garden notes", "status": "pending", "created_at": mine.created_at.isoformat()}
    ]
    assert (answer["returned"], answer["more"]) == (1, False)


def test_staff_read_every_users_rows(allow_list):
    ada, eve = user_create("ada@example.com"), user_create("eve@example.com")
    document(ada, "Garden notes")
    document(eve, "Eve's diary")

    answer = ask(staff_create(), "query_records", model="knowbase.Document", order_by=["title"])

    assert [row["title"] for row in answer["rows"]] == ["Eve's diary", "Garden notes"]


def test_filters_and_ordering_use_the_allowed_lookups(allow_list):
    ada = user_create("ada@example.com")
    garden = document(ada, "Garden notes", status="ready")
    roses = document(ada, "Rose garden", status="ready")
    document(ada, "Kettle manual", status="failed")

    answer = ask(
        ada,
        "query_records",
        model="knowbase.Document",
        filters={"title__icontains": "garden", "status__in": ["ready", "pending"], "id__gte": garden.pk},
        order_by=["-title"],
    )

    assert [row["id"] for row in answer["rows"]] == [roses.pk, garden.pk]


def test_count_records_counts_only_the_users_own_matching_rows(allow_list):
    ada, eve = user_create("ada@example.com"), user_create("eve@example.com")
    document(ada, "Garden notes", status="ready")
    document(ada, "Kettle manual", status="failed")
    document(eve, "Eve's notes", status="ready")

    answer = ask(ada, "count_records", model="knowbase.Document", filters={"status": "ready"})

    assert answer == {"model": "knowbase.Document", "count": 1}


def test_a_model_without_an_owner_field_is_unknown_to_a_non_staff_user(allow_list):
    Category.objects.create(name="Household", slug="household")
    ada = user_create("ada@example.com")

    for tool in ("query_records", "count_records"):
        answer = ask(ada, tool, model="knowbase.Category")
        assert answer["error"].startswith(
            "Unknown model 'knowbase.Category'. The models you may read: knowbase.Document"
        )


def test_staff_read_a_model_without_an_owner_field(allow_list):
    Category.objects.create(name="Household", slug="household")

    answer = ask(staff_create(), "query_records", model="knowbase.category")

    assert [row["name"] for row in answer["rows"]] == ["Household"]
    assert set(answer["rows"][0]) == {"id", "name"}


def test_a_model_not_on_the_allow_list_is_refused(allow_list):
    answer = ask(staff_create(), "query_records", model="accounts.User")

    assert "Unknown model 'accounts.User'" in answer["error"]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"owner": 1}, "knowbase.Document has no readable field 'owner'. Filter on: id, title, status, created_at."),
        ({"owner__email": "eve@example.com"}, "has no readable field 'owner'"),
        ({"title__regex": "^G"}, "'title__regex': 'regex' is not a lookup you may use"),
        ({"title__icontains__x": "G"}, "filters cannot follow relations"),
        ({"title": {"$ne": 1}}, "'title' takes a single string, number or boolean."),
        ({"title__gt": None}, "'title__gt' takes a single string, number or boolean."),
        ({"id__in": []}, "'id__in' takes a list of 1 to 100 values."),
        ({"id__in": [[1]]}, "'id__in' takes a list of strings, numbers or booleans."),
        ({"created_at__isnull": "yes"}, "'created_at__isnull' takes true or false."),
        ({"id": "abc"}, "Invalid filter value: Field 'id' expected a number but got 'abc'."),
        ({"created_at__gte": "last week"}, "Invalid filter value:"),
    ],
)
def test_a_bad_filter_is_refused_with_a_message_the_model_sees(allow_list, filters, message):
    ada = user_create("ada@example.com")

    answer = ask(ada, "query_records", model="knowbase.Document", filters=filters)

    assert message in answer["error"]


def test_a_filter_never_follows_a_relation_even_from_a_readable_foreign_key(allow_list):
    allow_list({**DOCUMENTS, "FIELDS": [*DOCUMENTS["FIELDS"], "owner"]})
    ada = user_create("ada@example.com")
    document(ada, "Garden notes")

    refused = ask(ada, "count_records", model="knowbase.Document", filters={"owner__email__icontains": "ada"})
    by_id = ask(ada, "count_records", model="knowbase.Document", filters={"owner": ada.pk})

    assert "'owner__email__icontains': 'email__icontains' is not a lookup you may use" in refused["error"]
    assert "filters cannot follow relations" in refused["error"]
    assert by_id["count"] == 1


def test_ordering_by_a_field_that_is_not_readable_is_refused(allow_list):
    answer = ask(user_create("ada@example.com"), "query_records", model="knowbase.Document", order_by=["-owner"])

    assert "Cannot order by '-owner': order by one of id, title, status, created_at." in answer["error"]


def test_the_limit_is_capped_by_orm_max_rows(allow_list):
    allow_list(DOCUMENTS, max_rows=3)
    ada = user_create("ada@example.com")
    for number in range(5):
        document(ada, f"Note {number}")

    answer = ask(ada, "query_records", model="knowbase.Document", limit=1000)

    assert (len(answer["rows"]), answer["returned"], answer["more"]) == (3, 3, True)


def test_decimals_and_dates_come_back_as_text(allow_list):
    allow_list({"MODEL": "agents.AgentDefinition", "FIELDS": ["name", "cost_limit", "created_at"], "OWNER_FIELD": ""})
    agent = AgentDefinition.objects.create(name="helper", instructions="Help.", cost_limit=Decimal("1.50"))

    answer = ask(staff_create(), "query_records", model="agents.AgentDefinition")

    row = answer["rows"][0]
    assert isinstance(row["cost_limit"], str) and Decimal(row["cost_limit"]) == Decimal("1.50")
    assert row["created_at"] == agent.created_at.isoformat()


def test_the_config_refuses_a_password_field():
    with pytest.raises(ValidationError, match="looks like a credential"):
        OrmModelAccess(model="accounts.User", fields=("id", "email", "password"))


def test_a_secret_field_set_past_the_config_is_never_read(allow_list):
    allow_list({"MODEL": "accounts.User", "FIELDS": ["id", "email", "password", "last_login"], "OWNER_FIELD": ""})
    staff = staff_create()

    models = ask(staff, "list_models")["models"]
    rows = ask(staff, "query_records", model="accounts.User")["rows"]
    refused = ask(staff, "count_records", model="accounts.User", filters={"password__isnull": False})

    assert [field["name"] for field in models[0]["fields"]] == ["id", "email", "last_login"]
    assert rows == [{"id": staff.pk, "email": "staff@example.com", "last_login": None}]
    assert "has no readable field 'password'" in refused["error"]


def test_a_listed_name_that_is_not_a_column_is_left_out(allow_list):
    allow_list({**DOCUMENTS, "FIELDS": ["id", "title", "is_public", "chunks"]})
    ada = user_create("ada@example.com")
    document(ada, "Garden notes")

    answer = ask(ada, "query_records", model="knowbase.Document")

    assert list(answer["rows"][0]) == ["id", "title"]


def test_a_model_whose_owner_field_is_not_a_user_key_is_not_read_at_all(allow_list):
    allow_list({**DOCUMENTS, "OWNER_FIELD": "category"})
    ada = user_create("ada@example.com")
    document(ada, "Garden notes")

    assert ask(ada, "list_models") == {"models": []}
    assert "Unknown model 'knowbase.Document'" in ask(ada, "count_records", model="knowbase.Document")["error"]
