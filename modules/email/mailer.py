"""Render an email from a template pair (HTML and text) on the base layout, and send it now."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from cfg.probes import probe_mailer


class DjangoEmailService:
    """`template` names a pair under templates/email/: "<template>.html" and "<template>.txt"."""

    def __init__(self, *, from_email: str | None = None, mailer: str | None = None) -> None:
        self.from_email = from_email or settings.DEFAULT_FROM_EMAIL
        self.mailer = mailer

    def context(self, subject: str, context: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "subject": subject,
            "project_name": settings.PROJECT_NAME,
            "site_url": settings.SITE_URL,
            **context,
        }

    def render(self, subject: str, template: str, context: Mapping[str, Any]) -> tuple[str, str]:
        full = self.context(subject, context)
        text = render_to_string(f"email/{template}.txt", full)
        html = render_to_string(f"email/{template}.html", full)
        return text, html

    def build(
        self, to: str | Sequence[str], subject: str, template: str, context: Mapping[str, Any]
    ) -> EmailMultiAlternatives:
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients:
            raise ValueError("an email needs at least one recipient")
        text, html = self.render(subject, template, context)
        message = EmailMultiAlternatives(subject, text, self.from_email, recipients)
        message.attach_alternative(html, "text/html")
        return message

    def send(self, to: str | Sequence[str], subject: str, template: str, context: Mapping[str, Any]) -> int:
        """Send now, in this process; raises the backend's error (e.g. SMTPException, OSError) on failure."""
        return self.build(to, subject, template, context).send(using=self.mailer)

    def probe(self) -> None:
        """Reach the mailer as a send would, sending nothing (cfg.probes.probe_mailer); raises what a send would."""
        probe_mailer(self.mailer)


def recipient_refused(error: BaseException) -> bool:
    """The SMTP server refused the address itself (RCPT answered 5xx for every recipient: no such mailbox, say):
    another address would work. Temporary refusals (4xx), refusals of the message and connection errors are the
    server's side."""
    if not isinstance(error, smtplib.SMTPRecipientsRefused) or not error.recipients:
        return False
    return all(500 <= code < 600 for code, _ in error.recipients.values())
