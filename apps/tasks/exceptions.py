"""Errors of the tasks app. TasksError and its subclasses are the API's (modules.api maps them to their status);
TaskQueueUnavailable doubles as a DRF exception: API views answer 503."""

from __future__ import annotations

from django.tasks.exceptions import TaskException
from rest_framework import status
from rest_framework.exceptions import APIException

from modules.api.exceptions import ServiceError


class TasksError(ServiceError):
    """The base of the tasks app's errors that reach a client."""


class RunNotRetryable(TasksError):
    """The run has not finished (or its task cannot be loaded), so it cannot be enqueued again."""

    status_code = status.HTTP_409_CONFLICT
    code = "run_not_retryable"
    message = "Only finished runs can be retried."


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
