"""Campaign templates run on a restricted engine: Django's template language for the recipient's values, without the
tags that reach other templates, other tag libraries, the URLconf or (with DEBUG on) the loaded modules."""

from __future__ import annotations

import pytest

from apps.newsletter.campaign_mail import compile_campaign, render, sample_recipient
from apps.newsletter.exceptions import CampaignTemplateInvalid
from apps.newsletter.models import Campaign
from apps.newsletter.tests.factories import HTML, TEXT, campaign_create

pytestmark = pytest.mark.django_db

LIST = "/api/newsletter/campaigns/"


@pytest.mark.parametrize(
    "source",
    [
        '{% include "newsletter/preferences.html" %}',
        '{% extends "admin/base.html" %}',
        "{% load log %}{% get_admin_log 10 as entries %}",
        "{% load live_settings %}{% live_setting 'SUPPORT_EMAIL' %}",
        "{% debug %}",
        "{% url 'admin:index' %}",
        "{% lorem 100000000 w %}",
        '{{ subscriber.name|ljust:"1000000000" }}',
        "{% csrf_token %}",
    ],
)
def test_tags_that_reach_beyond_the_campaign_are_a_400_naming_the_field(
    campaign_staff_api, readers_list, source, settings
):
    settings.DEBUG = True  # where {% debug %} would dump the context and every loaded module
    body = {"name": "N", "mailing_list": readers_list.pk, "subject": "S", "html_body": source, "text_body": TEXT}

    response = campaign_staff_api.post(LIST, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error_code"] == "invalid_template"
    message = response.json()["html_body"][0]
    assert "Campaign templates have the tags" in message and "cannot include, extend or load" in message
    assert not Campaign.objects.exists()


def test_an_existing_campaign_with_a_forbidden_tag_fails_at_preview_and_sends_nothing(campaign_staff_api, readers):
    campaign = campaign_create(mailing_list=readers[0].mailing_list, html_body='{% include "pages/base.html" %}')

    preview = campaign_staff_api.get(f"{LIST}{campaign.pk}/preview/")
    send = campaign_staff_api.post(f"{LIST}{campaign.pk}/send/")

    assert preview.status_code == 400 and preview.json()["error_code"] == "invalid_template"
    assert send.status_code == 400
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_the_template_language_for_the_recipient_still_works():
    html = (
        "{% if subscriber.name %}<p>{{ subscriber.name|upper }}</p>{% endif %}"
        "{% with first=subscriber.email|slice:':3' %}{{ first }}{% endwith %}"
        "{% for letter in 'ab' %}[{{ letter }}{% cycle 1 2 %}]{% endfor %}"
        "{{ campaign.name|default:'-'|truncatechars:40 }} {{ site_url|urlize }} {% now 'Y' as year %}{{ year|length }}"
        "{# a comment #}{% filter lower %}LOUD{% endfilter %}{% templatetag openbrace %}"
        "{{ subscriber.name|linebreaksbr }}{{ 7|divisibleby:7|yesno:'y,n' }}"
    )
    templates = compile_campaign(subject="Hi {{ subscriber.name|title }}", html_body=html, text_body=TEXT)
    campaign = Campaign(name="March", track_clicks=False, track_opens=False, subject="", html_body=HTML, text_body=TEXT)

    mail = render(campaign, templates, sample_recipient(email="ada@example.com", name="ada <b>"))

    assert mail.subject == "Hi Ada <B>"
    assert "<p>ADA &lt;B&gt;</p>" in mail.html and "ada" in mail.html
    assert "[a1][b2]" in mail.html and "loud" in mail.html and "{" in mail.html
    assert "March" in mail.html and "4" in mail.html and "y" in mail.html


def test_a_syntax_error_still_names_its_field_without_the_list_of_tags():
    with pytest.raises(CampaignTemplateInvalid) as error:
        compile_campaign(subject="S", html_body=HTML, text_body="{% if %}")

    assert error.value.field == "text_body"
    assert "Campaign templates have the tags" not in error.value.message
