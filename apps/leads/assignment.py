"""Round-robin assignment of new leads (LEADS__ROUND_ROBIN): who is in the pool, and whose turn it is."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet

from apps.leads import selectors
from apps.leads.models import AssignmentCursor, Lead


def staff_pool() -> QuerySet[Any]:
    """Who round-robin assignment chooses from: those who may work on leads (selectors.lead_workers) in
    LEADS__ROUND_ROBIN_GROUP, else all of them."""
    users = selectors.lead_workers()
    group = settings.LEADS["ROUND_ROBIN_GROUP"]
    if group:
        users = users.filter(groups__name=group)
    return users.order_by("pk")


def next_assignee() -> Any:
    """The staff member after the last one who took a new lead, in id order, wrapping round; None with no one.
    The cursor row is locked until the transaction ends: concurrent submissions take turns."""
    ids = list(staff_pool().values_list("pk", flat=True))
    if not ids:
        return None
    AssignmentCursor.objects.get_or_create(pk=1)
    cursor = AssignmentCursor.objects.select_for_update().get(pk=1)
    after = [pk for pk in ids if cursor.last_assignee_id is not None and pk > cursor.last_assignee_id]
    chosen = after[0] if after else ids[0]
    cursor.last_assignee_id = chosen
    cursor.save(update_fields=["last_assignee_id"])
    return get_user_model().objects.get(pk=chosen)


def lead_round_robin(*, lead: Lead) -> Any:
    """Give a new, still unassigned lead the next turn of round-robin (LEADS__ROUND_ROBIN); the assignee, or None
    when it is off, the lead has one already, or no one is in the pool. The caller tells the assignee."""
    if not settings.LEADS["ROUND_ROBIN"]:
        return None
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.assignee_id is not None:
            return None
        assignee = next_assignee()
        if assignee is None:
            return None
        locked.assignee = assignee
        locked.save(update_fields=["assignee", "updated_at"])
        lead.assignee = assignee
    return assignee
