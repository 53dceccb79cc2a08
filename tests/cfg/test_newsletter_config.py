"""The newsletter section: its queue must be served, and a batch is capped to fit well inside its task's timeout."""

from __future__ import annotations

from .conftest import Project

TEST = {"DJANGO_ENV": "test"}


def test_a_queue_for_campaigns_that_no_worker_serves_stops_loading(project: Project) -> None:
    problems = project.problems({**TEST, "NEWSLETTER__QUEUE": "mail", "TASKS__QUEUES": "default"})

    assert problems == [
        "Invalid configuration: newsletter.queue (from env var NEWSLETTER__QUEUE): 'mail' is not one of the task "
        "queues (default). Fix: add it to TASKS__QUEUES, or set NEWSLETTER__QUEUE to one of them"
    ]


def test_a_batch_is_capped_to_last_at_most_half_its_task_timeout(project: Project) -> None:
    environ = {**TEST, "NEWSLETTER__BATCH_SIZE": "5000", "NEWSLETTER__SEND_RATE": "10", "TASKS__TIMEOUT": "300"}

    assert project.load(environ).get_all_settings()["NEWSLETTER"]["BATCH_SIZE"] == 1500
    short = project.load({**environ, "TASKS__TIMEOUT": "1"}).get_all_settings()
    assert short["NEWSLETTER"]["BATCH_SIZE"] == 5


def test_the_default_batch_is_kept_as_configured(project: Project) -> None:
    config = project.load(TEST)

    assert config.get_all_settings()["NEWSLETTER"]["BATCH_SIZE"] == config.newsletter.batch_size
