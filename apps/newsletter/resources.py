"""Subscribers to and from files in the admin (django-import-export, CSV and XLSX), with their consent.

Columns: email, name, lists (the slugs of the lists, separated by commas), consent_text (the wording the people in
the file agreed to, where they agreed to it), consent_source (where: "import" when empty) and consent_at (exported
only: when the subscriber last gave consent).

An import is evidence of consent given elsewhere, so every row must carry its consent_text. Each imported
subscription is confirmed at once and gets a ConsentRecord(action=imported) holding that text. A row whose address is
on the suppression list (bounced, complained, unsubscribed from everything, or deleted their data) is skipped and
shown as skipped: an old file must never bring such an address back. Nor does it resubscribe anyone to a list they
unsubscribed from (their unsubscribe is newer than the file's consent). A file with any error saves nothing."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from import_export import fields, resources, widgets

from apps.newsletter.models import (
    ConsentAction,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from apps.newsletter.selectors.audience import is_suppressed, normalized_email

COLUMNS = ("email", "name", "lists", "consent_text", "consent_source", "consent_at")
REQUIRED = ("email", "lists", "consent_text")
SEPARATORS = re.compile(r"[,;\s]+")
CONSENT_ACTIONS = (ConsentAction.SUBSCRIBED, ConsentAction.CONFIRMED, ConsentAction.IMPORTED)


def at(row: int) -> str:
    return f"row {row} (line {row + 1})"


def list_slugs(cell: Any) -> list[str]:
    """The slugs of a `lists` cell, each once, in their order."""
    return list(dict.fromkeys(slug for slug in SEPARATORS.split(str(cell or "").strip()) if slug))


class SubscriberResource(resources.ModelResource):  # type: ignore[misc]
    email = fields.Field(attribute="email", column_name="email")
    name = fields.Field(attribute="name", column_name="name")
    lists = fields.Field(column_name="lists", dehydrate_method="dehydrate_lists")
    consent_text = fields.Field(column_name="consent_text", dehydrate_method="dehydrate_consent_text")
    consent_source = fields.Field(column_name="consent_source", dehydrate_method="dehydrate_consent_source")
    consent_at = fields.Field(
        column_name="consent_at",
        dehydrate_method="dehydrate_consent_at",
        widget=widgets.DateTimeWidget(),
        readonly=True,
    )

    class Meta:
        model = Subscriber
        fields = COLUMNS
        import_id_fields = ["email"]
        use_transactions = True
        report_skipped = True
        clean_model_instances = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lists: dict[str, MailingList] = {}
        # The file's columns are wrong: import-export still goes through its rows, which are not checked then (their
        # errors would only hide the one that matters).
        self._columns_refused = False

    # Export

    def get_queryset(self) -> QuerySet[Subscriber]:
        return Subscriber.objects.prefetch_related(
            Prefetch(
                "subscriptions",
                queryset=Subscription.objects.filter(status=SubscriptionStatus.CONFIRMED)
                .select_related("mailing_list")
                .order_by("mailing_list__slug"),
                to_attr="confirmed_subscriptions",
            ),
            Prefetch(
                "consents",
                queryset=ConsentRecord.objects.filter(action__in=CONSENT_ACTIONS).order_by("-created_at", "-pk"),
                to_attr="consent_records",
            ),
        ).order_by("pk")

    def dehydrate_lists(self, subscriber: Subscriber) -> str:
        subscriptions = getattr(subscriber, "confirmed_subscriptions", None)
        if subscriptions is None:  # the instance of an import row
            return ""
        return ", ".join(subscription.mailing_list.slug for subscription in subscriptions)

    def dehydrate_consent_text(self, subscriber: Subscriber) -> str:
        record = self._last_consent(subscriber)
        return record.form_text if record else ""

    def dehydrate_consent_source(self, subscriber: Subscriber) -> str:
        record = self._last_consent(subscriber)
        return record.source if record else ""

    def dehydrate_consent_at(self, subscriber: Subscriber) -> Any:
        record = self._last_consent(subscriber)
        return record.created_at if record else None

    @staticmethod
    def _last_consent(subscriber: Subscriber) -> ConsentRecord | None:
        records = getattr(subscriber, "consent_records", None)
        return records[0] if records else None

    # Import

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        headers = [str(name).strip() for name in dataset.headers or ()]
        missing = [name for name in REQUIRED if name not in headers]
        unknown = [name for name in headers if name not in COLUMNS]
        problems = []
        if missing:
            problems.append(f"the file lacks the columns {', '.join(missing)}")
        if unknown:
            problems.append(f"the file has columns this import does not read: {', '.join(unknown)}")
        if problems:
            self._columns_refused = True
            raise ValueError(f"Nothing was imported: {'; '.join(problems)}. The columns are {', '.join(COLUMNS)}.")
        self._lists = {mailing_list.slug: mailing_list for mailing_list in MailingList.objects.all()}

    def before_import_row(self, row: dict[str, Any], **kwargs: Any) -> None:
        if self._columns_refused:
            return
        number = kwargs.get("row_number", 0)
        email = normalized_email(str(row.get("email") or ""))
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) or len(email) > 254:
            raise ValueError(f"{at(number)}: {email[:60]!r} is not an email address")
        row["email"] = email
        slugs = list_slugs(row.get("lists"))
        unknown = [slug for slug in slugs if slug not in self._lists]
        if not slugs or unknown:
            known = ", ".join(sorted(self._lists)) or "none yet"
            named = f"no list named {', '.join(unknown)}" if unknown else "no lists given"
            raise ValueError(f"{at(number)}: {named} (the lists are: {known})")
        if not str(row.get("consent_text") or "").strip():
            raise ValueError(f"{at(number)}: consent_text is empty: say what these people agreed to")

    def get_instance(self, instance_loader: Any, row: dict[str, Any]) -> Subscriber | None:
        return Subscriber.objects.filter(email__iexact=row["email"]).first()

    def import_field(self, field: fields.Field, instance: Subscriber, row: dict[str, Any], **kwargs: Any) -> None:
        if field.column_name == "name" and instance.pk and instance.name and not (row.get("name") or "").strip():
            return  # a blank cell keeps the name the subscriber has
        if field.attribute:
            super().import_field(field, instance, row, **kwargs)

    def skip_row(
        self, instance: Subscriber, original: Any, row: dict[str, Any], import_validation_errors: Any = None
    ) -> bool:
        return self._columns_refused or is_suppressed(email=row["email"])

    def after_save_instance(self, instance: Subscriber, row: dict[str, Any], **kwargs: Any) -> None:
        now = timezone.now()
        source = str(row.get("consent_source") or "").strip()[:200] or "import"
        text = str(row["consent_text"]).strip()
        for slug in list_slugs(row["lists"]):
            mailing_list = self._lists[slug]
            subscription, created = Subscription.objects.get_or_create(subscriber=instance, mailing_list=mailing_list)
            # One who unsubscribed said so after the consent the file records: the file does not overrule them.
            if not created and subscription.status != SubscriptionStatus.PENDING:
                continue
            subscription.status = SubscriptionStatus.CONFIRMED
            subscription.confirmed_at = now
            subscription.unsubscribed_at = None
            subscription.save(update_fields=["status", "confirmed_at", "unsubscribed_at"])
            ConsentRecord.objects.create(
                subscriber=instance,
                mailing_list=mailing_list,
                action=ConsentAction.IMPORTED,
                source=source,
                form_text=text,
            )
