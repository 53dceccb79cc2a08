"""The forms of the ticket pages: the chat page's reply box and its status, priority and assignee controls, the
ticket's change form, and the bulk "set priority" action."""

from __future__ import annotations

from typing import Any

from django import forms
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldBooleanSwitchWidget,
)

from apps.support import selectors, services
from apps.support.models import Priority, Status, Ticket


def status_choices(current: str) -> list[tuple[str, str]]:
    """The statuses offered: where the ticket is and where services.ticket_set_status lets staff move it."""
    allowed = {current, *services.allowed_targets(current)}
    return [(value, label) for value, label in Status.choices if value in allowed]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"class": "support-chat__files"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, (list, tuple)) else [data]
        cleaned = []
        for file in files:
            if file:
                cleaned.append(super().clean(file, initial))
        return cleaned


class ReplyForm(forms.Form):
    body = forms.CharField(
        required=False,
        strip=True,
        label="Message",
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 5, "placeholder": "Write a reply…"}),
    )
    internal = forms.BooleanField(
        required=False,
        label="Internal note",
        help_text="Staff only: never shown or sent to the customer, no status change",
        widget=UnfoldBooleanSwitchWidget,
    )
    canned_reply = forms.ModelChoiceField(
        queryset=selectors.active_canned_replies(),
        required=False,
        label="Canned reply",
        empty_label="None",
        help_text="Its text comes first, with the customer's name, the ticket and your name filled in",
        widget=UnfoldAdminSelectWidget,
    )
    attachments = MultipleFileField(required=False, label="Attachments")

    def clean_body(self) -> str:
        # Browsers send a textarea's line breaks as CRLF: stored as the API's are, with LF.
        return str(self.cleaned_data["body"]).replace("\r\n", "\n").replace("\r", "\n")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not (cleaned.get("body") or cleaned.get("canned_reply") or cleaned.get("attachments")):
            raise forms.ValidationError("Write a message, choose a canned reply or attach a file.")
        return cleaned


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices, widget=UnfoldAdminSelectWidget)

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"status": ticket.status})
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = status_choices(ticket.status)  # type: ignore[attr-defined]


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(choices=Priority.choices, widget=UnfoldAdminSelectWidget)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=selectors.support_staff(), required=False, empty_label="Nobody", widget=UnfoldAdminSelectWidget
    )


class TicketForm(forms.ModelForm):
    """The ticket's page: status, priority and assignee, saved through the services (TicketAdmin.save_model)."""

    class Meta:
        model = Ticket
        fields = ("status", "priority", "assignee")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = selectors.support_staff()  # type: ignore[attr-defined]
        if "status" in self.fields and self.instance.pk is not None:
            self.fields["status"].choices = status_choices(self.instance.status)  # type: ignore[attr-defined]
            self.fields["status"].help_text = "A closed ticket can only be reopened; none goes back to new."
