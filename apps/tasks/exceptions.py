"""Errors of the tasks app. TaskQueueUnavailable doubles as a DRF exception: API views answer 503."""

from __future__ import annotations

from django.tasks.exceptions import TaskException
from rest_framework import status
from rest_framework.exceptions import APIException


class TaskQueueUnavailable(TaskException, APIException):
    """Redis could not take the task: nothing was queued and nothing was recorded."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The task queue is unavailable; try again later."
    default_code = "task_queue_unavailable"

    def __init__(self, message: str) -> None:
        APIException.__init__(self, detail=message, code=self.default_code)
        self.message = message


class WorkerLost(TaskException):
    """Recorded (never raised) when a worker vanished during an attempt and the task was delivered again."""


class TaskTimedOut(TaskException):
    """A task ran longer than the configured timeout."""


class TaskPurged(TaskException):
    """Recorded (never raised) when `task_clear --queue` dropped a queued task."""


class TaskLost(TaskException):
    """Recorded (never raised) when the sweep found a READY or RUNNING run whose message Redis no longer holds."""
