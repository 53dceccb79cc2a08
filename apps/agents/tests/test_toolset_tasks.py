"""The tasks toolset through a real pydantic-ai agent. The test environment's backend (ImmediateBackend) runs a task
as it is enqueued, and apps.tasks records every run as a TaskRun; the tasks are apps.tasks' own test jobs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.tasks import TaskResultStatus
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.tests.scripted import ScriptedToolset, answered, approval_requested, deps, offered_tools, resume
from apps.agents.toolsets import available_toolsets
from apps.agents.toolsets.tasks import SPEC, _may_enqueue, list_allowed_tasks, task_status
from apps.knowbase.tests.factories import staff_create, user_create
from apps.tasks.models import TaskRun
from apps.tasks.tests import jobs

pytestmark = pytest.mark.django_db

ADD = "apps.tasks.tests.jobs.add"
WHICH_ATTEMPT = "apps.tasks.tests.jobs.which_attempt"

_toolset = ScriptedToolset(SPEC)
agent_for, ask = _toolset.agent_for, _toolset.ask


def context(user: Any) -> Any:
    """What a tool function called directly (not through an agent) reads of its RunContext: the deps."""
    return SimpleNamespace(deps=deps(user))


@pytest.fixture(autouse=True)
def allowed_tasks(settings: Any) -> Any:
    def configure(*paths: str) -> None:
        settings.AGENTS = {**settings.AGENTS, "ALLOWED_TASKS": list(paths)}

    configure(ADD, WHICH_ATTEMPT)
    return configure


def test_the_toolset_is_registered_under_its_name():
    assert available_toolsets()["tasks"] is SPEC
    toolset = SPEC.build()
    assert isinstance(toolset, FunctionToolset)
    tools = toolset.tools
    assert set(tools) == {"list_allowed_tasks", "enqueue_task", "task_status"}
    assert [name for name, tool in tools.items() if tool.requires_approval] == ["enqueue_task"]


def test_the_allowed_tasks_are_listed_with_their_parameters_and_docstrings(allowed_tasks):
    # A path that does not import is left out (the system checks report it).
    allowed_tasks(ADD, WHICH_ATTEMPT, "apps.tasks.tests.jobs.count_running", "apps.tasks.tests.jobs.missing")

    listed = ask(user_create(), "list_allowed_tasks")["tasks"]

    assert listed == [
        {"task_path": ADD, "parameters": "(a: int, b: int) -> int", "description": ""},
        # The context is the backend's to give: the caller passes nothing.
        {"task_path": WHICH_ATTEMPT, "parameters": "() -> int", "description": ""},
        {
            "task_path": "apps.tasks.tests.jobs.count_running",
            "parameters": "() -> int",
            "description": "Uses the ORM: it only works if sync tasks run in a thread, outside the event loop.",
        },
    ]


def test_a_task_runs_only_after_approval_and_its_id_is_returned():
    user = user_create()
    agent = agent_for("enqueue_task", task_path=ADD, args=[2, 40])

    paused = async_to_sync(agent.run)("go", deps=deps(user))

    assert approval_requested(paused).args_as_dict() == {"task_path": ADD, "args": [2, 40]}
    assert not TaskRun.objects.exists()

    answer = answered(resume(agent, user, paused, approved=True))

    run = TaskRun.objects.get(pk=answer["task_id"])
    assert (run.task_path, run.args, run.kwargs, run.return_value) == (ADD, [2, 40], {}, 42)
    assert answer["task_path"] == ADD


def test_keyword_arguments_reach_the_task():
    user = user_create()
    agent = agent_for("enqueue_task", task_path=ADD, kwargs={"a": 1, "b": 2})
    paused = async_to_sync(agent.run)("go", deps=deps(user))

    answer = answered(resume(agent, user, paused, approved=True))

    assert TaskRun.objects.get(pk=answer["task_id"]).return_value == 3


@pytest.mark.parametrize(
    "path",
    [
        "apps.tasks.tests.jobs.fail",  # a task, but not on the allow-list
        "apps.tasks.tests.jobs.add.func",
        "os.system",
    ],
)
def test_a_task_not_on_the_allow_list_is_refused_without_asking_for_approval(path):
    answer = ask(user_create(), "enqueue_task", task_path=path, args=["x"])

    assert answer["error"] == (
        f"{path!r} is not a task you may start. The tasks you may start: {ADD}, {WHICH_ATTEMPT}."
    )
    assert not TaskRun.objects.exists()


def test_an_allow_listed_path_that_is_not_a_task_is_refused(allowed_tasks):
    allowed_tasks("apps.tasks.tests.jobs._redis")

    answer = ask(user_create(), "enqueue_task", task_path="apps.tasks.tests.jobs._redis")

    assert "is not a task you may start" in answer["error"]


def test_arguments_that_do_not_fit_the_task_are_refused_without_asking_for_approval():
    answer = ask(user_create(), "enqueue_task", task_path=ADD, args=[1])

    assert answer["error"] == f"{ADD}(a: int, b: int) -> int: missing a required argument: 'b'"
    assert not TaskRun.objects.exists()


def test_a_task_removed_from_the_allow_list_before_approval_is_not_started(allowed_tasks):
    user = user_create()
    agent = agent_for("enqueue_task", task_path=ADD, args=[2, 40])
    paused = async_to_sync(agent.run)("go", deps=deps(user))
    allowed_tasks(WHICH_ATTEMPT)

    answer = answered(resume(agent, user, paused, approved=True))

    assert "is not a task you may start" in answer["error"]
    assert not TaskRun.objects.exists()


def test_staff_read_a_task_runs_status():
    result = jobs.add.enqueue(2, 40)

    status = ask(staff_create(), "task_status", task_id=result.id)

    assert status["task_id"] == result.id
    assert (status["task_path"], status["status"], status["attempts"]) == (ADD, TaskResultStatus.SUCCESSFUL, 1)
    finished_at = TaskRun.objects.get(pk=result.id).finished_at
    assert finished_at is not None and status["finished_at"] == finished_at.isoformat()


def test_a_non_staff_users_model_is_not_offered_task_status():
    assert offered_tools(SPEC.build(), user_create()) == {"list_allowed_tasks", "enqueue_task"}
    assert offered_tools(SPEC.build(), staff_create()) == {"list_allowed_tasks", "enqueue_task", "task_status"}


def test_a_non_staff_user_may_not_read_task_status_even_by_calling_it_unoffered():
    result = jobs.add.enqueue(2, 40)
    user = user_create()

    assert ask(user, "task_status", task_id=result.id)["error"].startswith("Unknown tool name: 'task_status'.")
    # Called anyway (the toolset used without its prepare): the tool refuses too.
    with pytest.raises(ModelRetry, match="Only staff may read the status of task runs"):
        async_to_sync(task_status)(context(user), task_id=result.id)


def test_an_unknown_task_id_is_sent_back_to_the_model():
    assert ask(staff_create(), "task_status", task_id="nope") == {"error": "No task run 'nope'."}


def test_with_no_allowed_tasks_the_task_tools_are_not_offered(allowed_tasks):
    allowed_tasks()

    assert offered_tools(SPEC.build(), user_create()) == set()
    assert offered_tools(SPEC.build(), staff_create()) == {"task_status"}
    # Each refuses all the same when called (the toolset used without its prepare).
    assert async_to_sync(list_allowed_tasks)(context(user_create("eve@example.com"))) == {"tasks": []}
    with pytest.raises(ModelRetry, match="The tasks you may start: none"):
        async_to_sync(_may_enqueue)(context(user_create("bob@example.com")), ADD, [], {})


def test_a_task_approved_after_the_allow_list_was_emptied_is_not_started(allowed_tasks):
    user = user_create()
    agent = agent_for("enqueue_task", task_path=ADD, args=[2, 40])
    paused = async_to_sync(agent.run)("go", deps=deps(user))
    allowed_tasks()

    resumed = resume(agent, user, paused, approved=True)

    # No longer offered: the model is told so, and nothing is started.
    assert answered(resumed) == {"error": "Unknown tool name: 'enqueue_task'. No tools available."}
    assert not TaskRun.objects.exists()
