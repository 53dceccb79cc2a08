"""Without Redis, Django's ImmediateBackend runs tasks inline, and every run is still recorded."""

from __future__ import annotations

import pytest
from django.tasks import TaskResultStatus, task_backends
from django.tasks.backends.immediate import ImmediateBackend

from apps.tasks.models import TaskRun
from apps.tasks.tests import jobs

pytestmark = pytest.mark.django_db


def test_the_test_environment_runs_tasks_inline():
    assert isinstance(task_backends["default"], ImmediateBackend)


def test_a_successful_run_is_recorded():
    result = jobs.add.enqueue(2, 40)

    run = TaskRun.objects.get(pk=result.id)
    assert run.status == TaskResultStatus.SUCCESSFUL
    assert run.return_value == 42
    assert (run.task_path, run.queue, run.args, run.attempts) == ("apps.tasks.tests.jobs.add", "default", [2, 40], 1)
    assert run.worker == result.worker_ids[0]
    assert run.started_at and run.finished_at and run.duration is not None


def test_an_async_task_runs_and_is_recorded():
    result = jobs.multiply.enqueue(6, 7)
    assert TaskRun.objects.get(pk=result.id).return_value == 42


def test_a_failed_run_is_recorded_with_its_traceback():
    result = jobs.fail.enqueue("inline failure")

    assert result.status == TaskResultStatus.FAILED
    run = TaskRun.objects.get(pk=result.id)
    assert run.status == TaskResultStatus.FAILED
    assert run.error_class == "builtins.ValueError"
    assert "ValueError: inline failure" in run.traceback
    assert run.return_value is None
