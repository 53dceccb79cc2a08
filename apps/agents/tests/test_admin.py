"""The agents admin: definitions (toolsets by name, the output schema as pydantic-ai takes it, limits, access),
conversations, runs and tool calls as read-only records, and the approval queue, whose decisions resume the paused
run (inline here: the immediate task backend runs it when the decision commits). Staff only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from apps.agents import admin as admin_module
from apps.agents import services
from apps.agents.models import AgentDefinition, AgentRun, Decision, RunStatus, ToolCall, ToolCallStatus
from apps.agents.tests.factories import agent_create, conversation_for, run_refresh, user_create
from apps.knowbase.models import Document
from apps.knowbase.tests.factories import KETTLE, document_create
from modules.llm.testing import OpenAIStandIn

pytestmark = pytest.mark.django_db

AGENTS = "/admin/agents/agentdefinition/"
CONVERSATIONS = "/admin/agents/conversation/"
RUNS = "/admin/agents/agentrun/"
CALLS = "/admin/agents/toolcall/"
QUEUE = "/admin/agents/pendingapproval/"
SUBMITTED = {"_form_submitted": "True"}

Send = Callable[..., AgentRun]


@pytest.fixture
def root(db: Any) -> Any:
    return get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")


@pytest.fixture
def admin_client(client: Any, root: Any) -> Any:
    client.force_login(root)
    return client


@pytest.fixture
def ada(db: Any) -> Any:
    return user_create("ada@example.com")


@pytest.fixture
def paused(chat: OpenAIStandIn, send: Send, ada: Any) -> Callable[..., AgentRun]:
    """A run of ada's that asked to reprocess one of her documents and waits for a staff decision on it."""

    def make(text: str = KETTLE, agent_name: str = "helper") -> AgentRun:
        document = document_create(owner=ada, text=text)
        agent = AgentDefinition.objects.filter(name=agent_name).first() or agent_create(
            agent_name, toolsets=["knowbase"]
        )
        chat.reply("I will reprocess it.", tool_calls=[("reprocess_document", {"document_id": document.pk})])
        run = send(conversation_for(ada, agent), "Process my notes again")
        assert run.status == RunStatus.WAITING_FOR_APPROVAL, run.error
        return run

    return make


def pending_call(run: AgentRun) -> ToolCall:
    return ToolCall.objects.get(run=run, status=ToolCallStatus.AWAITING_APPROVAL)


def decide(client: Any, call: ToolCall, verb: str, capture: Any, note: str = "", **headers: Any) -> Any:
    """Submit the row action's dialog as htmx does; the resumed run executes when the decision commits."""
    with capture(execute=True):
        return client.post(f"{QUEUE}{call.pk}/{verb}/", {**SUBMITTED, "note": note}, headers=headers)


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return str(response.content.decode())


def definition(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "writer",
        "description": "",
        "is_active": "on",
        "instructions": "Write briefly.",
        "model": "",
        "toolsets": [],
        "output_schema": "",
        "request_limit": 20,
        "tool_calls_limit": 20,
        "total_tokens_limit": 100000,
        "cost_limit": "",
        "access": "users",
        "groups": [],
    }
    return {**values, **fields}


# --- pages and access -----------------------------------------------------------------------------------------------


def test_every_agents_admin_page_answers_staff(admin_client: Any, paused: Callable[..., AgentRun]) -> None:
    run = paused()
    call = pending_call(run)
    for url in [
        AGENTS,
        f"{AGENTS}add/",
        f"{AGENTS}{run.agent_id}/change/",
        CONVERSATIONS,
        f"{CONVERSATIONS}{run.conversation_id}/change/",
        RUNS,
        f"{RUNS}?status__exact=waiting_for_approval&agent__id__exact={run.agent_id}",
        f"{RUNS}{run.pk}/change/",
        f"{RUNS}{run.pk}/cancel_run/",
        CALLS,
        f"{CALLS}?status__exact=awaiting_approval&tool__exact=reprocess_document&decision__exact=",
        f"{CALLS}{call.pk}/change/",
        QUEUE,
        f"{QUEUE}{call.pk}/change/",
        f"{QUEUE}{call.pk}/approve/",
        f"{QUEUE}{call.pk}/deny/",
    ]:
        page(admin_client, url)

    listing = page(admin_client, AGENTS)
    assert "helper" in listing and "Knowledge base" in listing
    queue = page(admin_client, QUEUE)
    assert "reprocess_document" in queue and "ada@example.com" in queue
    assert f"{QUEUE}{call.pk}/approve/" in queue and f"{QUEUE}{call.pk}/deny/" in queue
    dialog = page(admin_client, f"{QUEUE}{call.pk}/approve/")
    assert "Approve this tool call?" in dialog and "reprocess_document" in dialog and "document_id" in dialog
    conversation = page(admin_client, f"{CONVERSATIONS}{run.conversation_id}/change/")
    assert "Process my notes again" in conversation and "Waiting for approval" in conversation
    assert f"{RUNS}{run.pk}/cancel_run/" in page(admin_client, f"{RUNS}{run.pk}/change/")


def test_no_add_or_edit_of_records(admin_client: Any, paused: Callable[..., AgentRun]) -> None:
    run = paused()
    for url in (f"{RUNS}add/", f"{CALLS}add/", f"{QUEUE}add/", f"{CONVERSATIONS}add/"):
        assert admin_client.get(url).status_code == 403, url
    assert admin_client.post(f"{RUNS}{run.pk}/change/", {"input": "changed"}).status_code == 403
    assert run_refresh(run).input == "Process my notes again"


def test_a_non_staff_user_is_sent_to_the_sign_in_page(client: Any, ada: Any) -> None:
    client.force_login(ada)
    for url in (AGENTS, CONVERSATIONS, RUNS, CALLS, QUEUE, "/admin/agents/pendingapproval/1/approve/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_the_run_page_shows_the_message_history_and_its_tool_calls(
    admin_client: Any, chat: OpenAIStandIn, send: Send, ada: Any
) -> None:
    document_create(owner=ada)
    conversation = conversation_for(ada, agent_create(toolsets=["knowbase"]))
    chat.reply(tool_calls=[("search_documents", {"query": "tomato watering", "limit": 2})])
    chat.reply("Water them at the base in the morning.", usage=(40, 8))
    run = send(conversation, "How do I water tomatoes?")
    assert run.status == RunStatus.SUCCEEDED, run.error

    detail = page(admin_client, f"{RUNS}{run.pk}/change/")

    for text in (
        "Succeeded",
        "How do I water tomatoes?",  # the user's prompt
        "You answer from the user",  # the instructions
        "Tool call",
        "search_documents",
        "tomato watering",
        "Tool result",
        "Garden notes",  # what the search gave the model
        "Water them at the base in the morning.",
    ):
        assert text in detail, text
    assert "(&#x27;succeeded&#x27;" not in detail  # the status in words, not as the list's label pair
    assert f"{RUNS}{run.pk}/cancel_run/" not in detail  # a finished run has no Cancel button
    listing = page(admin_client, RUNS)
    assert f"#{run.pk}: How do I water tomatoes?" in listing and "Succeeded" in listing


# --- agent definitions ----------------------------------------------------------------------------------------------


def test_a_new_agent_starts_with_the_configured_limits(admin_client: Any, settings: Any) -> None:
    settings.AGENTS = {**settings.AGENTS, "DEFAULT_REQUEST_LIMIT": 7, "DEFAULT_TOTAL_TOKENS_LIMIT": 5000}
    form = page(admin_client, f"{AGENTS}add/")
    assert 'name="request_limit" value="7"' in form and 'name="total_tokens_limit" value="5000"' in form
    assert 'value="knowbase"' in form and 'value="database"' in form and 'value="tasks"' in form


def test_the_definition_form_saves_toolsets_schema_limits_and_groups(admin_client: Any) -> None:
    editors = Group.objects.create(name="Editors")
    schema = '{"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}'
    response = admin_client.post(
        f"{AGENTS}add/",
        definition(
            toolsets=["knowbase", "database"],
            output_schema=schema,
            access="groups",
            groups=[editors.pk],
            cost_limit="0.05",
        ),
    )
    assert response.status_code == 302, response.content.decode()
    agent = AgentDefinition.objects.get(name="writer")
    assert agent.toolsets == ["knowbase", "database"]
    assert agent.output_schema == {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
    }
    assert list(agent.groups.all()) == [editors] and str(agent.cost_limit) == "0.050000"
    listing = page(admin_client, AGENTS)
    assert "Knowledge base, Database" in listing


def test_the_definition_form_refuses_a_toolset_that_is_not_offered(admin_client: Any) -> None:
    response = admin_client.post(f"{AGENTS}add/", definition(toolsets=["knowbase", "shell"]))
    assert response.status_code == 200
    assert "Select a valid choice. shell is not one of the available choices." in response.content.decode()
    assert not AgentDefinition.objects.exists()


def test_saving_keeps_a_toolset_whose_app_is_switched_off(admin_client: Any) -> None:
    agent = agent_create("keeper", toolsets=["knowbase", "retired"])
    response = admin_client.post(f"{AGENTS}{agent.pk}/change/", definition(name="keeper", toolsets=["database"]))
    assert response.status_code == 302, response.content.decode()
    agent.refresh_from_db()
    assert agent.toolsets == ["database", "retired"]
    assert "retired (unavailable)" in page(admin_client, AGENTS)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("[1, 2]", "Give a JSON object"),
        ('{"type": "string"}', "The answer must be an object"),
        ('{"type": "object", "properties": {"n": {"type": "numbr"}}}', "the property &#x27;n&#x27; has the type"),
        ('{"type": "object", "properties": ["n"]}', "must be an object: each property"),
        ('{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["m"]}', "names &#x27;m&#x27;"),
        ('{"type": "object", "properties": {"n": {"type": "array", "items": 3}}}', "the items of the property"),
        (
            '{"type": "object", "properties": {"head": {"$ref": "#/$defs/node"}}, "$defs": {"node": {"type": '
            '"object", "properties": {"next": {"$ref": "#/$defs/node"}}}}}',
            "pydantic-ai cannot use this schema",
        ),
        ("{not json", "Enter a valid JSON."),
    ],
)
def test_the_definition_form_refuses_a_schema_pydantic_ai_cannot_use(
    admin_client: Any, schema: str, message: str
) -> None:
    response = admin_client.post(f"{AGENTS}add/", definition(output_schema=schema))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AgentDefinition.objects.exists()


def nested(levels: int) -> str:
    """An object schema whose property `a` is an object with a property `a`… `levels` deep."""
    inner = '{"type": "object", "properties": {"a": ' * levels + '{"type": "string"}' + "}}" * levels
    return f'{{"type": "object", "properties": {{"a": {inner}}}}}'


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        # PostgreSQL's jsonb cannot store U+0000: saving it was a 500 (DataError).
        ('{"type": "object", "properties": {"a\\u0000": {"type": "string"}}}', "holds the NUL character"),
        ('{"type": "object", "properties": {"a": {"type": "string", "description": "x\\u0000"}}}', "NUL character"),
        ('{"type": "object", "properties": {"a": {"type": "string", "title": "\\ud800"}}}', "lone surrogate"),
        # A dangling $ref was saved, and every run then failed with a KeyError.
        (
            '{"type": "object", "properties": {"n": {"$ref": "#/$defs/Missing"}}}',
            "points to nothing: the schema&#x27;s &quot;$defs&quot; has no &#x27;Missing&#x27;",
        ),
        (
            '{"type": "object", "properties": {"n": {"anyOf": [{"$ref": "#/$defs/Gone"}, {"type": "null"}]}}, '
            '"$defs": {"Here": {"type": "string"}}}',
            "has no &#x27;Gone&#x27;",
        ),
        (
            '{"type": "object", "properties": {"n": {"$ref": "#/definitions/X"}}, "definitions": {"X": {}}}',
            "is not one pydantic-ai can follow",
        ),
        (
            '{"type": "object", "properties": {"n": {"$ref": "http://169.254.169.254/latest"}}}',
            "is not one pydantic-ai can follow",
        ),
        # Nested past what pydantic (a few hundred levels) or Python's JSON parser (a few thousand) can take.
        (nested(40), "more than 64 levels deep"),
        (nested(5000), "more than 64 levels deep"),
    ],
)
def test_the_definition_form_refuses_a_schema_that_would_break_the_database_or_every_run(
    admin_client: Any, schema: str, message: str
) -> None:
    response = admin_client.post(f"{AGENTS}add/", definition(output_schema=schema))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AgentDefinition.objects.exists()


def test_a_schema_is_checked_by_building_the_answer_type_as_the_engine_does() -> None:
    """The last line of defence: whatever the walk of the schema lets through is still built (StructuredDict) and its
    JSON schema generated, where pydantic resolves every $ref."""
    assert admin_module._build_problem({"type": "object", "properties": {"n": {"$ref": "#/$defs/Missing"}}}) == (
        "pydantic-ai cannot use this schema: it refers to '#/$defs/Missing', which it does not define."
    )
    schema = {
        "type": "object",
        "properties": {"n": {"$ref": "#/$defs/N"}},
        "$defs": {"N": {"type": "object", "properties": {"m": {"$ref": "#/$defs/M"}}}, "M": {"type": "string"}},
        "required": ["n"],
    }
    assert admin_module.schema_problem(schema) is None  # a $ref within "$defs", and an answer that must have "n"


def test_a_negative_cost_limit_is_refused(admin_client: Any) -> None:
    response = admin_client.post(f"{AGENTS}add/", definition(cost_limit="-0.01"))
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 0." in response.content.decode()
    assert not AgentDefinition.objects.exists()
    assert admin_client.post(f"{AGENTS}add/", definition(cost_limit="0")).status_code == 302


def test_access_for_groups_needs_a_group(admin_client: Any) -> None:
    response = admin_client.post(f"{AGENTS}add/", definition(access="groups"))
    assert response.status_code == 200
    assert "Choose at least one group" in response.content.decode()


# --- approvals ------------------------------------------------------------------------------------------------------


def test_approving_in_the_admin_resumes_and_completes_the_paused_run(
    admin_client: Any,
    root: Any,
    paused: Callable[..., AgentRun],
    chat: OpenAIStandIn,
    django_capture_on_commit_callbacks: Any,
) -> None:
    run = paused()
    call = pending_call(run)
    document_id = call.arguments["document_id"]
    chat.reply("Your notes are being processed again.")

    response = decide(
        admin_client, call, "approve", django_capture_on_commit_callbacks, note="Fine by me", HX_Request="true"
    )

    assert response.status_code == 200 and response["HX-Redirect"] == QUEUE
    run = run_refresh(run)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.output == "Your notes are being processed again."
    call.refresh_from_db()
    assert (call.status, call.decision, call.decided_by, call.decision_note) == (
        ToolCallStatus.SUCCEEDED,
        Decision.APPROVED,
        root,
        "Fine by me",
    )
    assert call.result is not None and call.result["document_id"] == document_id
    assert Document.objects.get(pk=document_id).attempts == 2  # processed again
    queue = page(admin_client, QUEUE)  # the decision's message, and an empty queue
    assert f"Approved reprocess_document (call #{call.pk})" in queue and f"Run #{run.pk}" in queue
    assert f"{QUEUE}{call.pk}/approve/" not in queue


@pytest.mark.django_db(transaction=True)
def test_the_message_says_how_the_run_ended_when_it_resumed_in_the_request(
    admin_client: Any, paused: Callable[..., AgentRun], chat: OpenAIStandIn
) -> None:
    """Committed for real: the decision's transaction commits in the request, and the immediate backend resumes the
    run there, before the answer."""
    run = paused()
    call = pending_call(run)
    chat.reply("Done.")

    response = admin_client.post(f"{QUEUE}{call.pk}/approve/", SUBMITTED, follow=True)

    assert f"Approved reprocess_document (call #{call.pk}): " in response.content.decode()
    assert "resumed and succeeded." in response.content.decode()
    assert run_refresh(run).status == RunStatus.SUCCEEDED


def test_denying_tells_the_model_and_the_run_goes_on_without_the_tool(
    admin_client: Any, paused: Callable[..., AgentRun], chat: OpenAIStandIn, django_capture_on_commit_callbacks: Any
) -> None:
    run = paused()
    call = pending_call(run)
    chat.reply("A staff member said no, so I did not reprocess it.")

    response = decide(admin_client, call, "deny", django_capture_on_commit_callbacks, note="Not during office hours")

    assert response.status_code == 302 and response["Location"] == QUEUE  # without htmx: a plain redirect
    run = run_refresh(run)
    assert run.status == RunStatus.SUCCEEDED, run.error
    call.refresh_from_db()
    assert (call.status, call.decision, call.decision_note) == (
        ToolCallStatus.DENIED,
        Decision.DENIED,
        "Not during office hours",
    )
    told = [message.get("content") for message in chat.chat_requests[-1].body["messages"]]
    assert any("denied this call: Not during office hours" in str(content) for content in told)
    assert Document.objects.get(pk=call.arguments["document_id"]).attempts == 1  # not processed again
    assert f"Denied reprocess_document (call #{call.pk})" in page(admin_client, QUEUE)


def test_a_decided_call_cannot_be_decided_twice(
    admin_client: Any, paused: Callable[..., AgentRun], chat: OpenAIStandIn, django_capture_on_commit_callbacks: Any
) -> None:
    run = paused()
    call = pending_call(run)
    chat.reply("Done.")
    decide(admin_client, call, "approve", django_capture_on_commit_callbacks)
    requests = len(chat.chat_requests)

    again = decide(admin_client, call, "deny", django_capture_on_commit_callbacks)
    assert again.status_code == 302
    assert "is not waiting for a decision" in page(admin_client, QUEUE)
    with django_capture_on_commit_callbacks(execute=True):
        bulk = admin_client.post(QUEUE, {"action": "approve_selected", "_selected_action": [call.pk]}, follow=True)
    assert bulk.status_code == 200

    call.refresh_from_db()
    assert (call.decision, call.status) == (Decision.APPROVED, ToolCallStatus.SUCCEEDED)
    assert run_refresh(run).status == RunStatus.SUCCEEDED
    assert len(chat.chat_requests) == requests  # the run did not run again


def test_the_bulk_actions_decide_each_selected_call(
    admin_client: Any, paused: Callable[..., AgentRun], chat: OpenAIStandIn, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = paused(), paused()
    # A run resumes when its own call is decided, one after the other: each gets its answer in turn.
    chat.reply("First done.")
    chat.reply("Second done.")
    calls = [pending_call(first), pending_call(second)]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            QUEUE, {"action": "approve_selected", "_selected_action": [call.pk for call in calls]}, follow=True
        )

    assert response.status_code == 200
    assert "Approved 2 tool call(s)." in response.content.decode()
    assert {run_refresh(run).status for run in (first, second)} == {RunStatus.SUCCEEDED}
    assert set(ToolCall.objects.values_list("decision", flat=True)) == {Decision.APPROVED}


def test_deny_selected_denies(
    admin_client: Any, paused: Callable[..., AgentRun], chat: OpenAIStandIn, django_capture_on_commit_callbacks: Any
) -> None:
    run = paused()
    call = pending_call(run)
    chat.reply("Denied, so nothing was done.")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(QUEUE, {"action": "deny_selected", "_selected_action": [call.pk]}, follow=True)
    assert "Denied 1 tool call(s)." in response.content.decode()
    call.refresh_from_db()
    assert (call.status, call.decision) == (ToolCallStatus.DENIED, Decision.DENIED)


@pytest.mark.parametrize("object_id", ["abc", "-1", "999999", "9999999999999999999", "99999999999999999999", "1%2F2"])
@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_deciding_a_call_that_does_not_exist_is_the_admins_doesnt_exist_redirect_not_a_500(
    admin_client: Any, django_capture_on_commit_callbacks: Any, object_id: str, verb: str
) -> None:
    url = f"{QUEUE}{object_id}/{verb}/"
    for response in (
        admin_client.get(url),
        admin_client.post(url, {**SUBMITTED, "note": ""}),
    ):
        assert response.status_code == 302 and response["Location"] == "/admin/", response.status_code
    htmx = admin_client.get(url, headers={"HX-Request": "true"})  # the row's menu opens the dialog with htmx
    assert htmx.status_code == 200 and htmx["HX-Redirect"] == "/admin/"
    assert "doesn\u2019t exist. Perhaps it was deleted?" in page(admin_client, "/admin/")


def test_staff_without_the_change_permission_on_tool_calls_see_the_queue_but_cannot_decide(
    client: Any, paused: Callable[..., AgentRun], django_capture_on_commit_callbacks: Any
) -> None:
    run = paused()
    call = pending_call(run)
    viewer = user_create("viewer@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_toolcall"))
    client.force_login(viewer)

    queue = page(client, QUEUE)
    assert "reprocess_document" in queue
    assert f"{QUEUE}{call.pk}/approve/" not in queue and "approve_selected" not in queue
    assert decide(client, call, "approve", django_capture_on_commit_callbacks).status_code == 403
    call.refresh_from_db()
    assert call.decision == "" and run_refresh(run).status == RunStatus.WAITING_FOR_APPROVAL

    viewer.user_permissions.add(Permission.objects.get(codename="change_toolcall"))
    client.force_login(get_user_model().objects.get(pk=viewer.pk))
    assert f"{QUEUE}{call.pk}/approve/" in page(client, QUEUE)


# --- cancelling runs ------------------------------------------------------------------------------------------------


def test_the_cancel_action_ends_a_paused_run_and_denies_its_calls(
    admin_client: Any, paused: Callable[..., AgentRun]
) -> None:
    run = paused()
    call = pending_call(run)

    response = admin_client.post(RUNS, {"action": "cancel_runs", "_selected_action": [run.pk]}, follow=True)

    assert "1 run(s) cancelled." in response.content.decode()
    assert run_refresh(run).status == RunStatus.CANCELLED
    call.refresh_from_db()
    assert call.status == ToolCallStatus.DENIED
    assert f"{QUEUE}{call.pk}/approve/" not in page(admin_client, QUEUE)

    again = admin_client.post(RUNS, {"action": "cancel_runs", "_selected_action": [run.pk]}, follow=True)
    assert "1 run(s) skipped: already finished." in again.content.decode()


def test_the_run_pages_cancel_button_cancels_a_queued_run(admin_client: Any, chat: OpenAIStandIn, ada: Any) -> None:
    run = services.message_post(conversation=conversation_for(ada, agent_create()), text="Hello")  # not run yet

    response = admin_client.post(f"{RUNS}{run.pk}/cancel_run/", SUBMITTED)

    assert response.status_code == 302 and response["Location"] == f"{RUNS}{run.pk}/change/"
    assert run_refresh(run).status == RunStatus.CANCELLED
    assert f"Run #{run.pk} cancelled." in page(admin_client, f"{RUNS}{run.pk}/change/")
