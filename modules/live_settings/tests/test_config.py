"""The live settings' declarations in the configuration: typed, and keeping those the code reads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cfg.models.constance import ConstanceConfig, ConstanceField, _default_fields


def test_an_email_setting_needs_an_address_for_its_default():
    assert ConstanceField(type="email", default="help@example.com").default == "help@example.com"
    assert ConstanceField(type="email", default="").default == ""
    with pytest.raises(ValidationError, match="'not an email' is not an email address"):
        ConstanceField(type="email", default="not an email")


def test_a_mapping_must_keep_the_settings_the_code_reads():
    fields = {**_default_fields(), "MAX_UPLOAD_MB": ConstanceField(type="int", default=10)}
    assert "MAX_UPLOAD_MB" in ConstanceConfig(fields=fields).fields
    without = {name: field for name, field in fields.items() if name != "MAINTENANCE_MODE"}
    with pytest.raises(ValidationError, match="MAINTENANCE_MODE is missing, and the project's code reads it"):
        ConstanceConfig(fields=without)
    retyped = {**fields, "SUPPORT_EMAIL": ConstanceField(type="str", default="")}
    with pytest.raises(ValidationError, match="reads it as email"):
        ConstanceConfig(fields=retyped)


def test_the_settings_name_email_fields_by_their_kind(settings):
    assert settings.CONSTANCE_CONFIG["SUPPORT_EMAIL"][2] == "email"
    assert settings.CONSTANCE_CONFIG["MAINTENANCE_MODE"][2] is bool
