"""Leads to and from CSV and XLSX files in the admin (django-import-export).

An import adds leads and updates the contact fields of existing ones; a row is the lead with its email address (in
any case: addresses are stored in lower case). It writes what a person would type on the form and its attribution:
name, email, phone, company, message, source, the UTM fields, referrer and landing page. The pipeline is not
imported: status, assignee and the recorded times and consent are exported for reading, and the import leaves them
as they are (a new lead starts as new, unassigned; status changes go through the board or the API, which record
them). A bad email address is an error naming its row, and a file with any error saves nothing.

A lead's fields are written by anyone on the internet, and a spreadsheet runs a cell that starts with =, +, -, @ (or
a tab or carriage return) as a formula. import-export's own escaping (IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT, on)
only drops a leading "=", so such a text cell is exported with a leading apostrophe, the spreadsheets' mark for
text, and an import takes that apostrophe off again: a phone number such as +44 20... goes out as '+44 20... and
comes back unchanged.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from import_export import fields, resources, widgets

from apps.leads.models import ATTRIBUTION_FIELDS, CONTACT_FIELDS, Lead

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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def as_text(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula, marked as text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return TEXT_MARK + value
    return value


def unmarked(text: str) -> str:
    """A cell as as_text wrote it, back to its value."""
    if text.startswith(TEXT_MARK) and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


class TextWidget(widgets.CharWidget):  # type: ignore[misc]
    """A blank cell is an empty string (the model's fields are not nullable); a cell marked as text is unmarked."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        return "" if value is None else unmarked(str(value).strip())


class LeadResource(resources.ModelResource):  # type: ignore[misc]
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

    def export_field(self, field: Any, instance: Any, **kwargs: Any) -> Any:
        return as_text(super().export_field(field, instance, **kwargs))

    def import_data(
        self,
        dataset: Any,
        dry_run: bool = False,
        raise_errors: bool = False,
        use_transactions: bool | None = None,
        collect_failed_rows: bool = False,
        rollback_on_validation_errors: bool = True,
        **kwargs: Any,
    ) -> Any:
        """import-export's, rolling back on a row's error too: a file saves whole or not at all."""
        return super().import_data(
            dataset,
            dry_run=dry_run,
            raise_errors=raise_errors,
            use_transactions=use_transactions,
            collect_failed_rows=collect_failed_rows,
            rollback_on_validation_errors=rollback_on_validation_errors,
            **kwargs,
        )
