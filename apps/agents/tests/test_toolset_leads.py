"""The leads toolset through a real pydantic-ai agent: a scripted model calls a tool and answers with what the tool
gave it. Leads are made the way the form makes them (apps.leads' factories); the run's user is a staff member who
works on leads, one who may only read them, one of another team (staff without the leads permissions), or a
regular user."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from pydantic_ai.exceptions import ModelRetry, ToolFailed
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.tests.scripted import ScriptedToolset, answered, approval_requested, deps, offered_tools, resume
from apps.agents.toolsets import available_toolsets
from apps.agents.toolsets.common import MAX_TEXT
from apps.agents.toolsets.leads import (
    LATEST_NOTES,
    SPEC,
    add_lead_note,
    get_lead,
    search_leads,
    set_lead_status,
)
from apps.leads import services
from apps.leads.models import Lead, LeadNote, Status, StatusChange
from apps.leads.tests.factories import lead_create, staff_create, user_create

pytestmark = pytest.mark.django_db

_toolset = ScriptedToolset(SPEC)
agent_for, ask = _toolset.agent_for, _toolset.ask

ALL_TOOLS = {"search_leads", "get_lead", "add_lead_note", "set_lead_status"}
READ_REFUSAL = "You may not read leads: that takes a staff account with the leads.view_lead permission."
CHANGE_REFUSAL = "You may not change leads: that takes a staff account with the leads.change_lead permission."


def context(user: Any) -> Any:
    """What a tool function called directly (not through an agent) reads of its RunContext: the deps."""
    return SimpleNamespace(deps=deps(user))


@pytest.fixture
def worker() -> Any:
    """A staff member who works on leads: may read and change them."""
    return staff_create("sam@example.com", first_name="Sam", last_name="Stone")


@pytest.fixture
def reader() -> Any:
    """A staff member who may read leads, not change them."""
    reader = staff_create("reader@example.com", leads_permissions=False)
    reader.user_permissions.add(Permission.objects.get(content_type__app_label="leads", codename="view_lead"))
    return reader


@pytest.fixture
def grace() -> Lead:
    return lead_create("grace@example.com", name="Grace Hopper", company="Navy Labs", message="A demo, please.")


def outsiders() -> list[Any]:
    """A regular user, a regular user given the leads permissions (the staff API refuses non-staff all the same),
    and a staff member of another team."""
    user = user_create("ada@example.com")
    permitted = user_create("eve@example.com")
    permitted.user_permissions.add(*Permission.objects.filter(content_type__app_label="leads"))
    return [user, permitted, staff_create("other@example.com", leads_permissions=False)]


def test_the_toolset_is_registered_under_its_name():
    assert available_toolsets()["leads"] is SPEC
    toolset = SPEC.build()
    assert isinstance(toolset, FunctionToolset)
    assert set(toolset.tools) == ALL_TOOLS
    assert [name for name, tool in toolset.tools.items() if tool.requires_approval] == [
        "add_lead_note",
        "set_lead_status",
    ]


def test_the_module_imports_no_leads_code_until_a_tool_runs():
    """The registry imports every toolset module, with the leads app installed or not."""
    import ast
    import inspect

    from apps.agents.toolsets import leads

    tree = ast.parse(inspect.getsource(leads))
    imported = [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert imported and not [module for module in imported if module and module.startswith("apps.leads")]


def test_search_finds_leads_by_name_email_and_company_newest_first(worker, grace):
    ada = lead_create("ada@engines.example", name="Ada Lovelace", company="Analytical Engines")
    lead_create("alan@example.com", name="Alan Turing", company="Bletchley")

    by_name = ask(worker, "search_leads", query="hopper")["leads"]
    by_email = ask(worker, "search_leads", query="ENGINES.example")["leads"]
    by_company = ask(worker, "search_leads", query="navy")["leads"]
    everyone = ask(worker, "search_leads")["leads"]

    assert [lead["lead_id"] for lead in by_name] == [grace.pk]
    assert [lead["lead_id"] for lead in by_email] == [ada.pk]
    assert [lead["lead_id"] for lead in by_company] == [grace.pk]
    assert [lead["name"] for lead in everyone] == ["Alan Turing", "Ada Lovelace", "Grace Hopper"]
    assert by_name[0] == {
        "lead_id": grace.pk,
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "company": "Navy Labs",
        "status": "new",
        "source": "",
        "assignee": None,
        "created_at": grace.created_at.isoformat(),
        "last_touch_at": grace.last_touch_at.isoformat() if grace.last_touch_at else None,
    }


def test_search_filters_by_status_and_is_bounded(worker, grace):
    for number in range(4):
        lead_create(f"lead{number}@example.com", name=f"Lead {number}")
    services.lead_set_status(lead=grace, status=Status.CONTACTED, by=worker)

    contacted = ask(worker, "search_leads", status="contacted")["leads"]
    two = ask(worker, "search_leads", limit=2)["leads"]
    at_most_fifty = ask(worker, "search_leads", limit=10_000)["leads"]

    assert [lead["lead_id"] for lead in contacted] == [grace.pk]
    assert [lead["name"] for lead in two] == ["Lead 3", "Lead 2"]
    assert len(at_most_fifty) == 5


def test_search_reads_a_fixed_number_of_queries_whatever_the_number_of_leads(worker, django_assert_num_queries):
    def search(user: Any) -> Any:
        return async_to_sync(search_leads)(context(user), query="", status=None, limit=50)

    def fresh_user() -> Any:
        # Read again each time: its permissions are looked up on its first call, as in a new run.
        return type(worker).objects.get(pk=worker.pk)

    lead_create("one@example.com")
    user = fresh_user()
    # The user's permissions (own and groups'), and the page of leads with their assignees.
    with django_assert_num_queries(3):
        assert len(search(user)["leads"]) == 1
    for number in range(6):
        lead_create(f"lead{number}@example.com")
    user = fresh_user()
    with django_assert_num_queries(3):
        assert len(search(user)["leads"]) == 7


def test_a_search_that_finds_nothing_says_so(worker, grace):
    assert ask(worker, "search_leads", query="nobody at all") == {"leads": []}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"status": "pending"}, "'pending' is not a status; the statuses are new, contacted, qualified, won, lost."),
        ({"query": "x" * 201}, "The query is too long: give at most 200 characters."),
    ],
)
def test_bad_search_arguments_are_sent_back_to_the_model(worker, args, error):
    assert ask(worker, "search_leads", **args) == {"error": error}


def test_get_reads_the_lead_with_its_latest_touches_notes_and_history(worker, grace):
    lead_create("grace@example.com", name="Grace Hopper", message="Still keen.", source="pricing")
    services.lead_set_status(lead=grace, status=Status.CONTACTED, by=worker, note="Called her.")
    services.lead_note_add(lead=grace, author=worker, body="x" * 3000)

    lead = ask(worker, "get_lead", lead_id=grace.pk)

    assert (lead["lead_id"], lead["name"], lead["status"], lead["message"]) == (
        grace.pk,
        "Grace Hopper",
        "contacted",
        "A demo, please.",
    )
    assert lead["next_statuses"] == ["qualified", "lost"]
    assert [touch["message"] for touch in lead["latest_touches"]] == ["Still keen.", "A demo, please."]
    assert lead["latest_touches"][0]["source"] == "pricing"
    assert [len(note["body"]) for note in lead["latest_notes"]] == [MAX_TEXT, len("Called her.")]
    assert lead["latest_notes"][0]["author"] == {"id": worker.pk, "email": worker.email, "name": "Sam Stone"}
    [change] = lead["latest_history"]
    assert (change["from_status"], change["to_status"], change["changed_by"]["id"]) == ("new", "contacted", worker.pk)
    # What the model is sent of the visitor stops at what selling needs: no IP address, browser or consent record.
    assert not {"ip", "user_agent", "consent_ip"} & {key for touch in lead["latest_touches"] for key in touch}
    assert "consent_ip" not in lead


def test_get_returns_only_the_latest_notes(worker, grace):
    for number in range(LATEST_NOTES + 3):
        services.lead_note_add(lead=grace, author=worker, body=f"Note {number}")

    notes = ask(worker, "get_lead", lead_id=grace.pk)["latest_notes"]

    assert [note["body"] for note in notes] == [f"Note {number}" for number in range(LATEST_NOTES + 2, 2, -1)]


def test_an_unknown_lead_is_sent_back_to_the_model(worker):
    assert ask(worker, "get_lead", lead_id=404) == {"error": "No lead 404. Use search_leads to find the ids of leads."}


def test_the_tools_are_offered_by_permission():
    worker = staff_create("sam@example.com")
    reader = staff_create("reader@example.com", leads_permissions=False)
    reader.user_permissions.add(Permission.objects.get(content_type__app_label="leads", codename="view_lead"))
    superuser = user_create("root@example.com", is_staff=True, is_superuser=True)

    assert offered_tools(SPEC.build(), worker) == ALL_TOOLS
    assert offered_tools(SPEC.build(), superuser) == ALL_TOOLS
    assert offered_tools(SPEC.build(), reader) == {"search_leads", "get_lead"}
    for outsider in outsiders():
        assert offered_tools(SPEC.build(), outsider) == set()


def test_a_user_without_the_leads_permissions_is_refused_even_by_calling_the_tools_unoffered(grace):
    for outsider in outsiders():
        # Through an agent: the tools are not there.
        assert ask(outsider, "get_lead", lead_id=grace.pk)["error"].startswith("Unknown tool name: 'get_lead'.")
        # Called anyway (the toolset used without its prepare): each refuses, and says why.
        with pytest.raises(ModelRetry, match=re.escape(READ_REFUSAL)):
            async_to_sync(search_leads)(context(outsider), query="grace")
        with pytest.raises(ModelRetry, match=re.escape(READ_REFUSAL)):
            async_to_sync(get_lead)(context(outsider), lead_id=grace.pk)
        with pytest.raises(ModelRetry, match=re.escape(CHANGE_REFUSAL)):
            async_to_sync(add_lead_note)(context(outsider), lead_id=grace.pk, body="Mine now.")
        with pytest.raises(ModelRetry, match=re.escape(CHANGE_REFUSAL)):
            async_to_sync(set_lead_status)(context(outsider), lead_id=grace.pk, status="lost")
    assert not LeadNote.objects.exists()
    assert not StatusChange.objects.exists()


def test_a_reader_reads_but_may_not_change(reader, grace):
    assert ask(reader, "get_lead", lead_id=grace.pk)["lead_id"] == grace.pk
    assert ask(reader, "add_lead_note", lead_id=grace.pk, body="Hi")["error"].startswith(
        "Unknown tool name: 'add_lead_note'."
    )
    with pytest.raises(ModelRetry, match=re.escape(CHANGE_REFUSAL)):
        async_to_sync(set_lead_status)(context(reader), lead_id=grace.pk, status="lost")
    grace.refresh_from_db()
    assert grace.status == Status.NEW


def test_a_note_waits_for_approval_and_is_added_once_approved(worker, grace):
    agent = agent_for("add_lead_note", lead_id=grace.pk, body="  Sent the price list.  ")

    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    call = approval_requested(paused)
    assert (call.tool_name, call.args_as_dict()) == (
        "add_lead_note",
        {"lead_id": grace.pk, "body": "  Sent the price list.  "},
    )
    assert not LeadNote.objects.exists()

    answer = answered(resume(agent, worker, paused, approved=True))

    note = LeadNote.objects.get()
    assert (note.lead_id, note.author, note.body) == (grace.pk, worker, "Sent the price list.")
    assert answer == {
        "lead_id": grace.pk,
        "note_id": note.pk,
        "body": "Sent the price list.",
        "created_at": note.created_at.isoformat(),
    }


def test_a_denied_note_is_not_added(worker, grace):
    agent = agent_for("add_lead_note", lead_id=grace.pk, body="Sent the price list.")
    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    resume(agent, worker, paused, approved=False)

    assert not LeadNote.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [("   ", "Give the note's text."), ("x" * 5001, "The note is too long: give at most 5000 characters.")],
)
def test_a_bad_note_is_sent_back_without_asking_for_approval(worker, grace, body, error):
    assert ask(worker, "add_lead_note", lead_id=grace.pk, body=body) == {"error": error}
    assert ask(worker, "add_lead_note", lead_id=404, body="Hello") == {
        "error": "No lead 404. Use search_leads to find the ids of leads."
    }
    assert not LeadNote.objects.exists()


def test_a_status_change_waits_for_approval_and_is_recorded_in_the_history_once_approved(worker, grace):
    agent = agent_for("set_lead_status", lead_id=grace.pk, status="contacted")

    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    assert approval_requested(paused).args_as_dict() == {"lead_id": grace.pk, "status": "contacted"}
    grace.refresh_from_db()
    assert grace.status == Status.NEW and not StatusChange.objects.exists()

    answer = answered(resume(agent, worker, paused, approved=True))

    assert answer == {"lead_id": grace.pk, "status": "contacted"}
    grace.refresh_from_db()
    assert grace.status == Status.CONTACTED
    change = StatusChange.objects.get()
    assert (change.lead_id, change.from_status, change.to_status, change.changed_by) == (
        grace.pk,
        "new",
        "contacted",
        worker,
    )


def test_a_denied_status_change_changes_nothing(worker, grace):
    agent = agent_for("set_lead_status", lead_id=grace.pk, status="lost")
    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    resume(agent, worker, paused, approved=False)

    grace.refresh_from_db()
    assert grace.status == Status.NEW and not StatusChange.objects.exists()


@pytest.mark.parametrize(
    ("start", "wanted", "error"),
    [
        ([], "won", "Lead {id} is new: it cannot become won; it can become contacted or lost."),
        ([], "new", "Lead {id} is new: it cannot become new; it can become contacted or lost."),
        (["contacted", "qualified", "won"], "lost", "Lead {id} is won: it cannot become lost; it can become nothing"),
        ([], "closed", "'closed' is not a status; the statuses are new, contacted, qualified, won, lost."),
    ],
)
def test_a_wrong_transition_is_sent_back_to_the_model_without_asking_for_approval(worker, grace, start, wanted, error):
    for status in start:
        services.lead_set_status(lead=grace, status=status, by=worker)
    recorded = StatusChange.objects.count()

    answer = ask(worker, "set_lead_status", lead_id=grace.pk, status=wanted)

    assert answer["error"].startswith(error.format(id=grace.pk))
    assert StatusChange.objects.count() == recorded


def test_a_transition_no_longer_allowed_when_approved_reaches_the_model_as_an_error(worker, grace):
    agent = agent_for("set_lead_status", lead_id=grace.pk, status="qualified")
    services.lead_set_status(lead=grace, status=Status.CONTACTED, by=worker)
    paused = async_to_sync(agent.run)("go", deps=deps(worker))
    # Someone else lost the lead while the call waited for approval.
    services.lead_set_status(lead=grace, status=Status.LOST, by=worker)

    answer = answered(resume(agent, worker, paused, approved=True))

    # Checked again when approved: the model is told what the lead may become now, and nothing is recorded.
    assert answer == {"error": f"Lead {grace.pk} is lost: it cannot become qualified; it can become contacted."}
    grace.refresh_from_db()
    assert grace.status == Status.LOST
    assert [(change.from_status, change.to_status) for change in grace.history.order_by("id")] == [
        ("new", "contacted"),
        ("contacted", "lost"),
    ]


def test_permissions_withdrawn_before_approval_stop_the_change(worker, grace):
    agent = agent_for("add_lead_note", lead_id=grace.pk, body="Sent the price list.")
    paused = async_to_sync(agent.run)("go", deps=deps(worker))
    worker.user_permissions.clear()
    # The run resumes with its user read again, as a new run of the conversation does.
    fresh = type(worker).objects.get(pk=worker.pk)

    answer = answered(resume(agent, fresh, paused, approved=True))

    assert answer["error"].startswith("Unknown tool name: 'add_lead_note'.")
    assert not LeadNote.objects.exists()


def test_the_pipeline_refuses_a_wrong_transition_even_when_the_tool_is_called_unchecked(worker, grace):
    """Called without its argument check (the toolset used without it): the service's own refusal reaches the
    model as a failed call, in the words of the staff API's 409."""
    with pytest.raises(ToolFailed, match=re.escape("A new lead cannot become won; it can become contacted or lost.")):
        async_to_sync(set_lead_status)(context(worker), lead_id=grace.pk, status="won")
    grace.refresh_from_db()
    assert grace.status == Status.NEW and not StatusChange.objects.exists()
