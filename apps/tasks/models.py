from __future__ import annotations

from django.db import models
from django.tasks import TaskResultStatus
from django.utils import timezone

FINAL_STATUSES = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


class TaskRun(models.Model):
    """One enqueued task, on any backend: its id is Django's TaskResult id."""

    id = models.CharField(primary_key=True, max_length=64)
    task_path = models.CharField(max_length=255, db_index=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=100, db_index=True)
    backend = models.CharField(max_length=100, default="default")
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=10, choices=TaskResultStatus.choices, default=TaskResultStatus.READY)
    run_after = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker of the last attempt")
    worker_ids = models.JSONField(default=list, blank=True, help_text="One entry per attempt")
    return_value = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="Every attempt's error, oldest first")
    error_class = models.CharField(max_length=255, blank=True, help_text="The last error's exception class")
    traceback = models.TextField(blank=True, help_text="The last error's traceback")
    duration = models.DurationField(null=True, blank=True, help_text="Of the last attempt")
    retried_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries", db_index=False
    )

    class Meta:
        ordering = ["-enqueued_at"]
        indexes = [
            models.Index(fields=["status", "finished_at"], name="tasks_run_status_finished"),
            models.Index(fields=["finished_at"], name="tasks_run_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.task_path} [{self.status}] {self.id}"

    @property
    def task_name(self) -> str:
        return self.task_path.rsplit(".", 1)[-1]
