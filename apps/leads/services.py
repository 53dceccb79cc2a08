"""Writes of leads: a website submission (new lead, repeat or update), status changes, assignment and notes.

A submission locks its email address for the length of its transaction (a PostgreSQL advisory lock), so that two
identical submissions arriving together run one after the other: the second finds the first's touch and answers
with its lead. Nothing here raises a database error for a submission: the unique address is also caught should a
lead be added another way (the admin, an import) at the same moment.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from apps.leads import selectors
from apps.leads.exceptions import NotStaff, TransitionNotAllowed
from apps.leads.models import (
    ATTRIBUTION_FIELDS,
    CONTACT_FIELDS,
    TRANSITIONS,
    USER_AGENT_MAX,
    Lead,
    LeadNote,
    LeadTouch,
    StatusChange,
)
from apps.leads.tasks import lead_received, notify_assignee

# The fields a person types: the same values again (after normalising) are the same submission. Attribution (UTM,
# referrer) is left out: a double click sends the same words from the same page.
FINGERPRINT_FIELDS = ("name", "email", "phone", "company", "message", "source")
# Filled on an existing lead when empty there; never overwritten (the first touch's attribution stays).
FILLABLE_FIELDS = tuple(name for name in (*CONTACT_FIELDS, *ATTRIBUTION_FIELDS) if name != "email")


@dataclass(frozen=True)
class Submission:
    """What the public form sends, validated (apps.leads.api.public)."""

    email: str
    name: str = ""
    phone: str = ""
    company: str = ""
    message: str = ""
    source: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    referrer: str = ""
    landing_page: str = ""
    consent: bool = False

    @classmethod
    def of(cls, values: dict[str, Any]) -> Submission:
        names = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in names and value is not None})


@dataclass(frozen=True)
class Visitor:
    ip: str | None
    user_agent: str = ""


@dataclass(frozen=True)
class Outcome:
    lead: Lead
    created: bool
    """A new lead (not a new touch of an existing one)"""
    repeated: bool
    """The same submission within LEADS__DEDUP_WINDOW: nothing was recorded"""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _normalised(value: str) -> str:
    return " ".join(value.split()).casefold()


def submission_fingerprint(submission: Submission) -> str:
    values = [_normalised(str(getattr(submission, name))) for name in FINGERPRINT_FIELDS]
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()


def _lock_address(email: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"apps.leads:{email}"])


def _lead_by_email(email: str) -> QuerySet[Lead]:
    # Lower(email) is what the unique index holds: this lookup uses it.
    return Lead.objects.alias(email_lower=Lower("email")).filter(email_lower=email)


def lead_submit(*, submission: Submission, visitor: Visitor) -> Outcome:
    """Record a submission of the public form: a new lead, a new touch of the address's lead (filling its empty
    fields, its status kept), or nothing when the same submission came within LEADS__DEDUP_WINDOW."""
    email = normalise_email(submission.email)
    fingerprint = submission_fingerprint(submission)
    now = timezone.now()
    window = int(settings.LEADS["DEDUP_WINDOW"])
    consent_text, consent_version = _consent(submission)
    with transaction.atomic():
        _lock_address(email)
        if window:
            repeat = (
                LeadTouch.objects.filter(fingerprint=fingerprint, created_at__gte=now - timedelta(seconds=window))
                .select_related("lead")
                .first()
            )
            if repeat is not None:
                return Outcome(lead=repeat.lead, created=False, repeated=True)
        lead = _lead_by_email(email).select_for_update().first()
        created = False
        if lead is None:
            new = Lead(email=email, **{name: getattr(submission, name) for name in FILLABLE_FIELDS})
            _touched(new, visitor=visitor, consent=(consent_text, consent_version), now=now)
            created = _inserted(new)
            # Not inserted: added at this moment another way (the admin, an import), which takes no address lock.
            lead = new if created else _lead_by_email(email).select_for_update().get()
        if not created:
            _lead_fill(lead, submission=submission)
            _touched(lead, visitor=visitor, consent=(consent_text, consent_version), now=now)
            lead.save()
        LeadTouch.objects.create(
            lead=lead,
            email=email,
            ip=visitor.ip,
            user_agent=visitor.user_agent[:USER_AGENT_MAX],
            consent_text=consent_text,
            consent_version=consent_version,
            fingerprint=fingerprint,
            **{name: getattr(submission, name) for name in FILLABLE_FIELDS},
        )
        _received_on_commit(lead, created=created)
    return Outcome(lead=lead, created=created, repeated=False)


def _consent(submission: Submission) -> tuple[str, str]:
    """The consent text and version shown with the form, when the person gave it."""
    text = str(settings.LEADS["CONSENT_TEXT"])
    if not text or not submission.consent:
        return "", ""
    return text, str(settings.LEADS["CONSENT_VERSION"])


def _touched(lead: Lead, *, visitor: Visitor, consent: tuple[str, str], now: datetime) -> None:
    """The lead as of this touch: when it was, and the consent given with it (the latest consent is the lead's)."""
    lead.last_touch_at = now
    if consent[0]:
        lead.consent_text, lead.consent_version = consent
        lead.consent_ip, lead.consent_at = visitor.ip, now


def _inserted(lead: Lead) -> bool:
    try:
        with transaction.atomic():
            lead.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def _lead_fill(lead: Lead, *, submission: Submission) -> None:
    for name in FILLABLE_FIELDS:
        if not getattr(lead, name) and getattr(submission, name):
            setattr(lead, name, getattr(submission, name))


def allowed_next(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def lead_set_status(*, lead: Lead, status: str, by: Any, note: str = "") -> Lead:
    """Move the lead along the pipeline (models.TRANSITIONS) and record who did it; a note may say why."""
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        current = locked.status
        if status == current:
            raise TransitionNotAllowed(f"The lead is already {current}.")
        if status not in allowed_next(current):
            raise TransitionNotAllowed(_refusal(current, status))
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
        StatusChange.objects.create(lead=locked, from_status=current, to_status=status, changed_by=by)
        if note.strip():
            LeadNote.objects.create(lead=locked, author=by, body=note.strip())
    return locked


def _refusal(current: str, wanted: str) -> str:
    options = allowed_next(current)
    if not options:
        return f"A {current} lead is closed: its status cannot change (it cannot become {wanted})."
    return f"A {current} lead cannot become {wanted}; it can become {' or '.join(options)}."


def lead_assign(*, lead: Lead, assignee: Any, by: Any) -> Lead:
    """Give the lead to an active staff member who may work on leads (None: to no one). The new assignee is told by
    email (a task)."""
    if assignee is not None and not (assignee.is_staff and assignee.is_active):
        raise NotStaff(f"{assignee} is not an active staff member: leads are assigned to active staff only.")
    if assignee is not None and not assignee.has_perm(selectors.CHANGE_PERMISSION):
        raise NotStaff(
            f"{assignee} does not have the leads permissions and could not open the lead: give them the "
            "permissions (or a group that has them) first."
        )
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        changed = locked.assignee_id != (assignee.pk if assignee is not None else None)
        locked.assignee = assignee
        locked.save(update_fields=["assignee", "updated_at"])
        if changed and assignee is not None and assignee != by:
            notify_assignee_on_commit(locked, assignee.pk)
    return locked


def leads_assign(*, leads: QuerySet[Lead], assignee: Any, by: Any) -> int:
    """Assign many leads at once (the admin's bulk action); each new assignee is told of each lead."""
    count = 0
    for lead in leads.order_by("pk"):
        lead_assign(lead=lead, assignee=assignee, by=by)
        count += 1
    return count


def lead_note_add(*, lead: Lead, author: Any, body: str) -> LeadNote:
    return LeadNote.objects.create(lead=lead, author=author, body=body.strip())


def _received_on_commit(lead: Lead, *, created: bool) -> None:
    """Hand the submission to the lead_received task, a new address and a known one alike: the request must take
    the same time for both, or its timing would tell whether an address already had a lead. The round-robin turn
    and the messages are the task's work. Nothing is enqueued when there is nothing to do for either."""
    if not (settings.LEADS["ROUND_ROBIN"] or selectors.telegram_configured()):
        return
    lead_id = lead.pk
    # robust: a queue that cannot take the task costs the message (logged), never the saved lead or the answer.
    transaction.on_commit(lambda: lead_received.enqueue(lead_id, created), robust=True)


def notify_assignee_on_commit(lead: Lead, assignee_id: int) -> None:
    lead_id = lead.pk
    transaction.on_commit(lambda: notify_assignee.enqueue(lead_id, assignee_id), robust=True)
