"""Notifications of leads, sent by tasks and never inside the public request: the services enqueue them on commit."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.tasks import task
from django.urls import reverse

from apps.leads.assignment import lead_round_robin
from apps.leads.models import Lead, one_line
from apps.leads.selectors import telegram_configured
from modules.email.service import send_email
from modules.telegram.client import send_telegram_message


def admin_url(lead: Lead) -> str:
    return f"{str(settings.SITE_URL).rstrip('/')}{reverse('admin:leads_lead_change', args=[lead.pk])}"


def new_lead_text(lead: Lead) -> str:
    lines = [f"New lead: {one_line(str(lead))}"]
    if lead.company:
        lines.append(f"Company: {lead.company}")
    if lead.phone:
        lines.append(f"Phone: {lead.phone}")
    attribution = " / ".join(value for value in (lead.source, lead.utm_source, lead.utm_campaign) if value)
    if attribution:
        lines.append(f"From: {attribution}")
    if lead.message:
        lines.append("")
        lines.append(lead.message[:1000])
    if lead.assignee_id:
        lines.append(f"Assigned to: {lead.assignee}")
    lines.append(admin_url(lead))
    return "\n".join(lines)


@task
def lead_received(lead_id: int, created: bool) -> str:
    """What follows a submission, out of the public request: for a new lead, its round-robin turn (which emails the
    assignee) and then the leads chat. Enqueued for a known address too, so that both requests do the same work."""
    if not created:
        return "skipped: a known address; nobody is told"
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        return "skipped: the lead was deleted"
    assignee = lead_round_robin(lead=lead)
    done = []
    if assignee is not None:
        assignee_id = assignee.pk
        transaction.on_commit(lambda: notify_assignee.enqueue(lead_id, assignee_id), robust=True)
        done.append(f"assigned to {assignee}")
    if telegram_configured():
        done.append(notify_new_lead.call(lead_id))
    return "; ".join(done) or "nothing to do"


@task
def notify_new_lead(lead_id: int) -> str:
    """Tell the leads chat (LEADS__TELEGRAM_CHAT_ID, else TELEGRAM__CHAT_ID) of a new lead."""
    lead = Lead.objects.select_related("assignee").filter(pk=lead_id).first()
    if lead is None:
        return "skipped: the lead was deleted"
    chat = settings.LEADS["TELEGRAM_CHAT_ID"]
    if not chat:
        return "skipped: no chat configured"
    send_telegram_message(new_lead_text(lead), chat)
    return f"sent to chat {chat}"


@task
def notify_assignee(lead_id: int, assignee_id: int) -> str:
    """Email a staff member that a lead is now theirs (when it still is)."""
    lead = Lead.objects.select_related("assignee").filter(pk=lead_id).first()
    if lead is None or lead.assignee_id != assignee_id:
        return "skipped: the lead was deleted or assigned to someone else since"
    assignee = get_user_model().objects.get(pk=assignee_id)
    if not assignee.email:
        return "skipped: the assignee has no email address"
    send_email(
        assignee.email,
        f"Lead assigned to you: {one_line(str(lead))}",
        "lead_assigned",
        {
            "lead_name": lead.name,
            "lead_email": lead.email,
            "lead_phone": lead.phone,
            "lead_company": lead.company,
            "lead_message": lead.message,
            "lead_source": lead.source,
            "lead_status": lead.get_status_display(),
            "lead_url": admin_url(lead),
        },
        defer=False,
    )
    return f"emailed {assignee.email}"
