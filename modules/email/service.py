"""send_email(): a templated email, sent now or through the tasks API. The sending itself is modules.email.mailer's
(DjangoEmailService), which the task uses too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from modules.email.mailer import DjangoEmailService
from modules.email.tasks import send_email_task


def send_email(
    to: str | Sequence[str],
    subject: str,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    defer: bool | None = None,
    from_email: str | None = None,
) -> Any:
    """Send a templated email. Through the tasks API when EMAIL_USE_TASKS is on (or defer=True).

    `from_email` replaces DEFAULT_FROM_EMAIL as the sender. The context must be JSON serialisable when deferred.
    Returns the TaskResult when deferred, else the number of messages sent. Never defer secrets: task arguments are
    stored by the backend.
    """
    context = dict(context or {})
    if defer is None:
        defer = settings.EMAIL_USE_TASKS
    if defer:
        recipients = [to] if isinstance(to, str) else list(to)
        return send_email_task.enqueue(recipients, subject, template, context, from_email)
    return DjangoEmailService(from_email=from_email).send(to, subject, template, context)
