"""The accounts app's cards on the admin dashboard (AppSpec.dashboard in cfg/catalog.py)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from apps.accounts.models import Activity, ActivityLog, OtpRequest, OtpStatus, User
from modules.unfold.dashboard import Card, Chart, Series, Stat

NEW_USER_DAYS = 7
SIGN_IN_DAYS = 30
FAILED_DELIVERY_DAYS = 7


def users_joined_since(since: datetime) -> int:
    return User.objects.filter(date_joined__gte=since).count()


def sign_ins_per_day(*, days: int, today: date) -> list[tuple[date, int]]:
    """Sign-ins (ActivityLog SIGN_IN) per local day, oldest first, days without any included."""
    first = today - timedelta(days=days - 1)
    zone = timezone.get_current_timezone()
    rows = (
        ActivityLog.objects.filter(action=Activity.SIGN_IN, created_at__gte=datetime.combine(first, time.min, zone))
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .order_by()
        .values("day")
        .annotate(count=Count("pk"))
    )
    counts = {row["day"]: row["count"] for row in rows}
    return [(day, counts.get(day, 0)) for day in (first + timedelta(days=offset) for offset in range(days))]


def failed_deliveries_since(since: datetime) -> int:
    return OtpRequest.objects.filter(status=OtpStatus.FAILED, created_at__gte=since).count()


def people_cards(request: HttpRequest) -> list[Card]:
    if not request.user.has_perm("accounts.view_user"):
        return []
    users = reverse("admin:accounts_user_changelist")
    since = timezone.now() - timedelta(days=NEW_USER_DAYS)
    return [
        Stat(key="users_total", title="Users", note="All accounts", value=User.objects.count(), link=users),
        Stat(
            key="users_new",
            title="New users",
            note=f"Last {NEW_USER_DAYS} days",
            value=users_joined_since(since),
            # The list is newest first.
            link=users,
        ),
    ]


def sign_in_cards(request: HttpRequest) -> list[Card]:
    cards: list[Card] = []
    now = timezone.now()
    if request.user.has_perm("accounts.view_activitylog"):
        days = sign_ins_per_day(days=SIGN_IN_DAYS, today=timezone.localdate(now))
        total = sum(count for _, count in days)
        sign_ins = f"{reverse('admin:accounts_activitylog_changelist')}?action__exact={Activity.SIGN_IN}"
        cards.append(
            Stat(key="sign_ins", title="Sign-ins", note=f"Last {SIGN_IN_DAYS} days", value=total, link=sign_ins)
        )
        cards.append(
            Chart(
                key="sign_ins_per_day",
                title="Sign-ins per day",
                note=f"Last {SIGN_IN_DAYS} days, {total} in all",
                labels=[date_format(day, "M j") for day, _ in days],
                series=[Series(label="Sign-ins", values=[count for _, count in days])],
                link=sign_ins,
                link_title="Sign-in activity",
            )
        )
    if request.user.has_perm("accounts.view_otprequest"):
        cards.append(
            Stat(
                key="otp_failed",
                title="Failed code deliveries",
                note=f"Last {FAILED_DELIVERY_DAYS} days",
                value=failed_deliveries_since(now - timedelta(days=FAILED_DELIVERY_DAYS)),
                link=f"{reverse('admin:accounts_otprequest_changelist')}?status__exact={OtpStatus.FAILED}",
                alert=True,
            )
        )
    return cards
