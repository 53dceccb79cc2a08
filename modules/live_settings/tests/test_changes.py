"""Live settings in the admin: typed and validated, and every change recorded with who made it."""

from __future__ import annotations

from typing import Any

import pytest
from constance import config
from constance.forms import ConstanceForm
from constance.utils import get_values
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType

from modules.live_settings.models import ChangeSource, LiveSettingChange

pytestmark = pytest.mark.django_db

PAGE = "/admin/constance/config/"
CHANGES = "/admin/live_settings/livesettingchange/"


@pytest.fixture(autouse=True)
def _fresh_content_types() -> None:
    """constance logs a save against the content type of its Config, which a rolled-back test may have created and
    left in the process's cache: an id the database no longer has."""
    ContentType.objects.clear_cache()


@pytest.fixture
def root(client: Any) -> Any:
    user = get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(user)
    return user


def save_live_settings(client: Any, **changes: Any) -> Any:
    """Post the admin's live settings form as a browser would: every field, the changed ones changed."""
    initial = get_values()
    data: dict[str, Any] = {"version": ConstanceForm(initial=initial).initial["version"]}
    for name, value in {**initial, **changes}.items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = value
    return client.post(PAGE, data)


def test_the_page_uses_unfold_widgets_and_an_email_field(client, root):
    form = ConstanceForm(initial=get_values())
    assert isinstance(form.fields["SUPPORT_EMAIL"], forms.EmailField)
    assert type(form.fields["MAINTENANCE_MODE"].widget).__module__ == "unfold.widgets"
    page = client.get(PAGE).content.decode()
    assert 'type="email" name="SUPPORT_EMAIL"' in page
    for name in ("MAINTENANCE_MODE", "MAINTENANCE_MESSAGE", "SUPPORT_EMAIL", "SIGNUPS_OPEN"):
        assert name in page


def test_support_email_refuses_what_is_not_an_address(client, root):
    response = save_live_settings(client, SUPPORT_EMAIL="not an email")
    assert response.status_code == 200  # the form again, with its error
    assert "Enter a valid email address." in response.content.decode()
    assert config.SUPPORT_EMAIL == ""
    assert not LiveSettingChange.objects.exists()


def test_a_change_in_the_admin_is_recorded_with_its_user_and_both_values(client, root):
    response = save_live_settings(client, SUPPORT_EMAIL="help@example.com", MAINTENANCE_MODE=True)
    assert response.status_code == 302
    assert config.SUPPORT_EMAIL == "help@example.com"
    changes = {change.name: change for change in LiveSettingChange.objects.all()}
    # Only what changed: saving the form also stores the defaults of the settings never saved, unrecorded.
    assert set(changes) == {"SUPPORT_EMAIL", "MAINTENANCE_MODE"}
    email = changes["SUPPORT_EMAIL"]
    assert (email.old_value, email.new_value) == ("", "help@example.com")
    assert (email.changed_by, email.source) == (root, ChangeSource.ADMIN)
    assert (changes["MAINTENANCE_MODE"].old_value, changes["MAINTENANCE_MODE"].new_value) == (False, True)

    save_live_settings(client, SUPPORT_EMAIL="desk@example.com")
    latest = LiveSettingChange.objects.filter(name="SUPPORT_EMAIL").first()
    assert latest is not None and (latest.old_value, latest.new_value) == ("help@example.com", "desk@example.com")


def test_the_changes_are_listed_read_only_in_the_admin(client, root):
    save_live_settings(client, MAINTENANCE_MESSAGE="Back soon")
    response = client.get(CHANGES)
    assert response.status_code == 200
    page = response.content.decode()
    assert "MAINTENANCE_MESSAGE" in page and "Back soon" in page and "root@example.com" in page
    change = LiveSettingChange.objects.get()
    assert client.get(f"{CHANGES}{change.pk}/change/").status_code == 200  # viewable
    assert client.post(f"{CHANGES}{change.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{CHANGES}add/").status_code == 403
    assert LiveSettingChange.objects.count() == 1


def test_a_change_made_outside_the_admin_is_recorded_without_a_user():
    config.SIGNUPS_OPEN = False
    change = LiveSettingChange.objects.get()
    assert (change.name, change.old_value, change.new_value) == ("SIGNUPS_OPEN", True, False)
    assert (change.changed_by, change.source) == (None, ChangeSource.OTHER)


def test_reading_a_setting_records_nothing():
    assert config.MAINTENANCE_MODE is False  # constance stores the default on this first read
    assert not LiveSettingChange.objects.exists()
