"""Leads to and from CSV and XLSX files in the admin (django-import-export).

An import adds leads and updates the contact fields of existing ones; a row is the lead with its email address (in
any case: addresses are stored in lower case). It writes what a person would type on the form and its attribution:
name, email, phone, company, message, source, the UTM fields, referrer and landing page. The pipeline is not
imported: status, assignee and the recorded times and consent are exported for reading, and the import leaves them
as they are (a new lead starts as new, unassigned; status changes go through the board or the API, which record
them). A bad email address is an error naming its row, and a file with any error saves nothing.

A lead's fields are written by anyone on the internet: a cell a spreadsheet would run as a formula is exported marked
as text and imported back unmarked (modules.spreadsheets).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from import_export import fields, widgets

from apps.leads.models import ATTRIBUTION_FIELDS, CONTACT_FIELDS, Lead
from modules.spreadsheets import SafeModelResource, TextWidget

IMPORTED = (*CONTACT_FIELDS, *ATTRIBUTION_FIELDS)
EXPORTED_ONLY = ("id", "status", "assignee", "created_at", "last_touch_at", "consent_version", "consent_at")


class EmailWidget(widgets.CharWidget):  # type: ignore[misc]
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        # Also read to find the row's lead, before the row has a number: the admin shows each error by its row.
        text = str(value or "").strip().lower()
        if not text:
            raise ValueError("a lead needs an email address")
        try:
            validate_email(text)
        except ValidationError:
            raise ValueError(f"{text[:60]} is not a valid email address") from None
        return text


class LeadResource(SafeModelResource):
    id = fields.Field(attribute="id", column_name="id", widget=widgets.IntegerWidget(), readonly=True)
    email = fields.Field(attribute="email", column_name="email", widget=EmailWidget())
    status = fields.Field(attribute="status", column_name="status", readonly=True)
    assignee = fields.Field(attribute="assignee__email", column_name="assignee", readonly=True)
    created_at = fields.Field(
        attribute="created_at", column_name="created_at", widget=widgets.DateTimeWidget(), readonly=True
    )
    last_touch_at = fields.Field(
        attribute="last_touch_at", column_name="last_touch_at", widget=widgets.DateTimeWidget(), readonly=True
    )
    consent_version = fields.Field(attribute="consent_version", column_name="consent_version", readonly=True)
    consent_at = fields.Field(
        attribute="consent_at", column_name="consent_at", widget=widgets.DateTimeWidget(), readonly=True
    )

    class Meta:
        model = Lead
        fields = ("id", *IMPORTED, *EXPORTED_ONLY[1:])
        export_order = ("id", *IMPORTED, *EXPORTED_ONLY[1:])
        import_id_fields = ["email"]
        skip_unchanged = True
        report_skipped = True
        use_transactions = True

    @classmethod
    def widget_from_django_field(cls, f: Any, default: Any = widgets.Widget) -> Any:
        if f.get_internal_type() in ("CharField", "TextField"):
            return TextWidget
        return super().widget_from_django_field(f, default)

    def get_queryset(self) -> Any:
        return Lead.objects.select_related("assignee")
