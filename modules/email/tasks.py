from __future__ import annotations

from typing import Any

from django.tasks import task

from modules.email.mailer import DjangoEmailService


@task
def send_email_task(
    to: list[str], subject: str, template: str, context: dict[str, Any], from_email: str | None = None
) -> int:
    """Queued form of send_email(); a failure is recorded on the task result by the backend."""
    return DjangoEmailService(from_email=from_email).send(to, subject, template, context)
