"""The agents section: allow-lists set as JSON or YAML, and credentials refused by the configuration itself."""

from __future__ import annotations

import json

from .conftest import Project

TEST = {"DJANGO_ENV": "test"}


def test_the_orm_allow_list_is_set_as_a_json_list_in_one_variable(project: Project) -> None:
    allowed = [{"model": "knowbase.Document", "fields": ["id", "title"], "owner_field": "owner"}]

    config = project.load({**TEST, "AGENTS__ORM_MODELS": json.dumps(allowed)})

    (access,) = config.agents.orm_models
    assert (access.model, access.fields, access.owner_field) == ("knowbase.Document", ("id", "title"), "owner")


def test_a_credential_in_the_orm_allow_list_stops_loading_with_one_line(project: Project) -> None:
    allowed = [{"model": "accounts.User", "fields": ["email", "password"]}]

    problems = project.problems({**TEST, "AGENTS__ORM_MODELS": json.dumps(allowed)})

    assert len(problems) == 1
    assert "agents.orm_models" in problems[0] and "AGENTS__ORM_MODELS" in problems[0]
    assert problems[0].endswith(
        "'password' looks like a credential, which agents never read. Fix: remove it from the fields"
    )


def test_a_task_path_that_is_not_a_dotted_path_stops_loading(project: Project) -> None:
    problems = project.problems({**TEST, "AGENTS__ALLOWED_TASKS": "send email"})

    assert len(problems) == 1
    assert "'send email' is not a module.function path" in problems[0]


def test_the_allow_lists_come_from_yaml_too(project: Project) -> None:
    project.yaml(
        "test",
        "agents:\n  allowed_tasks: [apps.knowbase.tasks.process_document]\n"
        "  orm_models:\n    - model: knowbase.Category\n      fields: [id, name]\n",
    )

    config = project.load(TEST)

    assert config.agents.allowed_tasks == ("apps.knowbase.tasks.process_document",)
    assert config.agents.orm_models[0].model == "knowbase.Category"


def test_a_queue_for_runs_that_no_worker_serves_stops_loading(project: Project) -> None:
    problems = project.problems({**TEST, "AGENTS__QUEUE": "agents", "TASKS__QUEUES": "default,mail"})

    assert problems == [
        "Invalid configuration: agents.queue (from env var AGENTS__QUEUE): 'agents' is not one of the task queues "
        "(default, mail). Fix: add it to TASKS__QUEUES, or set AGENTS__QUEUE to one of them"
    ]


def test_a_run_ends_before_its_task_would_time_out(project: Project) -> None:
    generated = project.load({**TEST, "AGENTS__RUN_TIMEOUT": "290", "TASKS__TIMEOUT": "300"}).get_all_settings()
    short_tasks = project.load({**TEST, "TASKS__TIMEOUT": "20"}).get_all_settings()
    default = project.load(TEST).get_all_settings()

    assert generated["AGENTS"]["RUN_TIMEOUT"] == 270  # the task's 300 s less a margin to record the outcome
    assert short_tasks["AGENTS"]["RUN_TIMEOUT"] == 10  # half of a task time shorter than the margin
    assert default["AGENTS"]["RUN_TIMEOUT"] == 240
