"""Records runs of any backend that reports through django.tasks signals (the ImmediateBackend, …).

Backends with `records_runs = True` (ours) write TaskRun rows themselves, with stronger guarantees.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.tasks import TaskResult
from django.tasks.signals import task_enqueued, task_finished, task_started

from apps.tasks import recorder


def _recorded_elsewhere(sender: Any) -> bool:
    return bool(getattr(sender, "records_runs", False))


@receiver(task_enqueued, dispatch_uid="apps.tasks.record_enqueued")
def on_task_enqueued(sender: Any, task_result: TaskResult[Any, Any], **kwargs: Any) -> None:
    if not _recorded_elsewhere(sender):
        recorder.record_enqueued(task_result)


@receiver(task_started, dispatch_uid="apps.tasks.record_started")
def on_task_started(sender: Any, task_result: TaskResult[Any, Any], **kwargs: Any) -> None:
    if not _recorded_elsewhere(sender):
        recorder.record_started(task_result)


@receiver(task_finished, dispatch_uid="apps.tasks.record_finished")
def on_task_finished(sender: Any, task_result: TaskResult[Any, Any], **kwargs: Any) -> None:
    if not _recorded_elsewhere(sender):
        recorder.record_finished(task_result)
