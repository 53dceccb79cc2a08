from __future__ import annotations

from typing import Any

from django.tasks import task

from modules.email.mailer import DjangoEmailService


@task
def send_email_task(to: list[str], subject: str, template: str, context: dict[str, Any]) -> int:
    """Queued form of send_email(); a failure is recorded on the task result by the backend."""
    return DjangoEmailService().send(to, subject, template, context)
