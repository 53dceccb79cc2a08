"""SUPPORT_EMAIL is read by code: the footer of every email the site sends."""

from __future__ import annotations

import pytest
from constance import config

from modules.email.mailer import DjangoEmailService

pytestmark = pytest.mark.django_db


def test_the_footer_names_the_support_address_when_there_is_one():
    text, html = DjangoEmailService().render("Hello", "test_email", {})
    assert "Questions?" not in text and "Questions?" not in html
    config.SUPPORT_EMAIL = "help@example.com"
    text, html = DjangoEmailService().render("Hello", "test_email", {})
    assert "Questions? Write to help@example.com" in text
    assert '<a href="mailto:help@example.com"' in html
