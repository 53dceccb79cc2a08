"""Tickets to and from CSV and XLSX files in the admin (django-import-export).

Export: each ticket's number, subject, requester, status, priority, category, assignee, creation time and SLA
fields. Import, through the services (so that every change has its history row and event):

- a row with a number updates that ticket's status, priority and assignee (a blank status or priority leaves it as
  it is; a blank assignee unassigns); its subject, requester and category are not changed by an import;
- a row without a number opens a ticket for an existing user, found by requester_email, with the row's subject and
  its `body` column as the first message (category by name; status, priority and assignee as above).

An import never creates users or categories: an unknown address or name is an error naming its row, as is a number
of no ticket, an assignee who is not active staff or a status staff may not set. A file with any error saves
nothing.

A ticket's subject and body are written by customers: a cell a spreadsheet would run as a formula is exported marked
as text and imported back unmarked (modules.spreadsheets).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import TextChoices
from import_export import fields, widgets

from apps.support import services
from apps.support.exceptions import SupportError
from apps.support.models import Category, Priority, Status, Ticket
from modules.spreadsheets import SafeModelResource, TextWidget, cell

# What an import may set: on a ticket it opens, and on one it updates (found by number).
CREATED_WITH = ("subject", "requester", "category", "status", "priority", "assignee")
UPDATED = ("status", "priority", "assignee")
# A blank cell of these keeps the current value (a blank assignee means nobody).
KEPT_WHEN_BLANK = ("status", "priority")
SLA_FIELDS = (
    "first_response_due_at",
    "first_responded_at",
    "first_response_breached",
    "resolution_due_at",
    "resolution_breached",
    "resolved_at",
    "closed_at",
)


class NumberWidget(widgets.IntegerWidget):  # type: ignore[misc]
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> int | None:
        text = cell(value).removeprefix("#")
        if not text:
            return None
        refused = ValueError(f"{text[:30]} is not a ticket number")
        try:
            number = float(text)  # a spreadsheet's numbers may come as 1042.0
        except ValueError:
            raise refused from None
        if not number.is_integer() or number < 1:
            raise refused
        return int(number)


class ChoiceWidget(widgets.Widget):  # type: ignore[misc]
    """A value of the choices, by its value or its label in any case ("waiting_for_staff", "Waiting for staff")."""

    def __init__(self, choices: type[TextChoices], what: str) -> None:
        super().__init__()
        self.choices = choices
        self.what = what

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str | None:
        text = cell(value).lower()
        if not text:
            return None
        for choice, label in self.choices.choices:
            if text in (choice, str(label).lower()):
                return str(choice)
        raise ValueError(f"{text[:40]} is not a {self.what}; use {', '.join(self.choices.values)}")

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return "" if value is None else str(value)


class UserByEmailWidget(widgets.ForeignKeyWidget):  # type: ignore[misc]
    """An existing user, by email address in any case: an import never creates one."""

    def __init__(self) -> None:
        super().__init__(get_user_model(), field="email")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        email = cell(value)
        if not email:
            return None
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise ValueError(f"no user has the email address {email[:80]} (an import does not create users)")
        return user

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return (value.email or "") if value is not None else ""


class CategoryWidget(widgets.ForeignKeyWidget):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(Category, field="name")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Category | None:
        name = cell(value)
        if not name:
            return None
        category = Category.objects.filter(name__iexact=name).first()
        if category is None:
            raise ValueError(f"no category is named {name[:80]} (an import does not create categories)")
        return category

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return value.name if value is not None else ""


def exported(name: str, widget: Any = None) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=widget or widgets.Widget(), readonly=True)


class TicketResource(SafeModelResource):
    number = fields.Field(attribute="number", column_name="number", widget=NumberWidget(coerce_to_string=False))
    subject = fields.Field(attribute="subject", column_name="subject", widget=TextWidget())
    requester = fields.Field(attribute="requester", column_name="requester_email", widget=UserByEmailWidget())
    status = fields.Field(attribute="status", column_name="status", widget=ChoiceWidget(Status, "status"))
    priority = fields.Field(attribute="priority", column_name="priority", widget=ChoiceWidget(Priority, "priority"))
    category = fields.Field(attribute="category", column_name="category", widget=CategoryWidget())
    assignee = fields.Field(attribute="assignee", column_name="assignee_email", widget=UserByEmailWidget())
    created_at = exported("created_at", widgets.DateTimeWidget())
    first_response_due_at = exported("first_response_due_at", widgets.DateTimeWidget())
    first_responded_at = exported("first_responded_at", widgets.DateTimeWidget())
    first_response_breached = exported("first_response_breached", widgets.BooleanWidget())
    resolution_due_at = exported("resolution_due_at", widgets.DateTimeWidget())
    resolution_breached = exported("resolution_breached", widgets.BooleanWidget())
    resolved_at = exported("resolved_at", widgets.DateTimeWidget())
    closed_at = exported("closed_at", widgets.DateTimeWidget())

    class Meta:
        model = Ticket
        fields = ("number", *CREATED_WITH, "created_at", *SLA_FIELDS)
        export_order = fields
        import_id_fields = ["number"]
        skip_unchanged = True
        report_skipped = True
        use_transactions = True
        clean_model_instances = False

    def get_queryset(self) -> Any:
        return Ticket.objects.select_related("requester", "assignee", "category").order_by("number")

    def import_instance(self, instance: Ticket, row: Any, **kwargs: Any) -> None:
        """Only what an import may set, on a new ticket or on one found by its number."""
        new = instance.pk is None
        errors: dict[str, Any] = {}
        for name in CREATED_WITH if new else UPDATED:
            field = self.fields[name]
            if field.column_name not in row or (name in KEPT_WHEN_BLANK and not cell(row[field.column_name])):
                continue
            try:
                self.import_field(field, instance, row, **kwargs)
            except ValueError as error:
                errors[name] = ValidationError(str(error), code="invalid")
        if new:
            number = cell(row.get("number"))
            if number:
                errors["number"] = ValidationError(
                    f"no ticket has the number {number[:20]}: leave it empty to open a new ticket", code="invalid"
                )
            if "requester" not in errors and instance.requester_id is None:
                errors["requester"] = ValidationError("a new ticket needs its requester_email", code="required")
            if not cell(row.get("body")):
                errors["body"] = ValidationError(
                    "a new ticket needs its first message in the body column", code="required"
                )
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance: Ticket, is_create: bool, row: Any, **kwargs: Any) -> None:
        actor = kwargs.get("user")
        try:
            ticket = self._create(instance, row, actor) if is_create else self._update(instance, actor)
        except SupportError as error:
            field = error.field if error.field in CREATED_WITH else NON_FIELD_ERRORS
            raise ValidationError({field: [error.message]}) from None
        for model_field in Ticket._meta.concrete_fields:
            setattr(instance, model_field.attname, getattr(ticket, model_field.attname))

    def _create(self, instance: Ticket, row: Any, actor: Any) -> Ticket:
        ticket = services.ticket_create(
            requester=instance.requester,
            subject=instance.subject,
            body=cell(row.get("body")),
            category_id=instance.category_id,
        )
        return self._changes(ticket, instance, actor)

    def _update(self, instance: Ticket, actor: Any) -> Ticket:
        return self._changes(Ticket.objects.get(pk=instance.pk), instance, actor)

    def _changes(self, ticket: Ticket, wanted: Ticket, actor: Any) -> Ticket:
        # A blank status or priority keeps the ticket's (KEPT_WHEN_BLANK); a blank assignee unassigns.
        return services.ticket_update(
            ticket=ticket,
            actor=actor,
            status=wanted.status or ticket.status,
            priority=wanted.priority or ticket.priority,
            assignee_id=wanted.assignee_id,
        )
