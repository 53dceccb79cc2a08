"""A campaign's mail for one recipient: its templates compiled once, rendered with the recipient's context, links
sent through the click redirect, the open pixel, and the headers bulk senders need (RFC 8058 one-click unsubscribe,
List-Id, Message-ID).

Templates are Django templates, compiled by the restricted engine of apps.newsletter.campaign_templates (no include,
extends or load). They see plain values only, never model instances, so a template cannot walk from the campaign to
its author or from the subscriber to other rows:

    subscriber.name, subscriber.email, campaign.id, campaign.name, unsubscribe_url, preferences_url, site_url

The subject and the text part are rendered without HTML escaping (they are not HTML); the HTML part is escaped as
usual."""

from __future__ import annotations

import email.message
import email.policy
import html
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, make_msgid
from django.template import Context, TemplateSyntaxError
from django.template.base import Template

from apps.newsletter import tracking
from apps.newsletter.campaign_templates import compile_source
from apps.newsletter.exceptions import CampaignTemplateInvalid
from apps.newsletter.links import preferences_url, unsubscribe_url
from apps.newsletter.models import Campaign, Delivery, MailingList, Subscriber, Subscription

# <a ... href="..."> (either quote): the attribute's value is rewritten, the rest of the tag kept as it is.
ANCHOR_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
SAMPLE_NAME = "Sample Subscriber"
SAMPLE_EMAIL = "subscriber@example.com"


@dataclass(frozen=True)
class CompiledCampaign:
    subject: Template
    html_body: Template
    text_body: Template


@dataclass(frozen=True)
class Recipient:
    """Who one mail is for, and the links that are theirs. `delivery_id` is None for a preview or a test send."""

    email: str
    name: str
    unsubscribe_url: str
    preferences_url: str
    delivery_id: int | None = None


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    html: str
    text: str


def compile_template(source: str, *, field: str) -> Template:
    try:
        return compile_source(source)
    except TemplateSyntaxError as error:
        raise CampaignTemplateInvalid(f"{field}: {error}", field=field) from None


def compile_campaign(*, subject: str, html_body: str, text_body: str) -> CompiledCampaign:
    """The three templates, compiled; CampaignTemplateInvalid (400, naming the field) for a syntax error."""
    return CompiledCampaign(
        subject=compile_template(subject, field="subject"),
        html_body=compile_template(html_body, field="html_body"),
        text_body=compile_template(text_body, field="text_body"),
    )


def compiled(campaign: Campaign) -> CompiledCampaign:
    return compile_campaign(subject=campaign.subject, html_body=campaign.html_body, text_body=campaign.text_body)


def template_context(campaign: Campaign, recipient: Recipient) -> dict[str, Any]:
    return {
        "subscriber": {"name": recipient.name, "email": recipient.email},
        "campaign": {"id": campaign.pk, "name": campaign.name},
        "unsubscribe_url": recipient.unsubscribe_url,
        "preferences_url": recipient.preferences_url,
        "site_url": settings.SITE_URL,
    }


def render(campaign: Campaign, templates: CompiledCampaign, recipient: Recipient) -> RenderedMail:
    """The mail's three parts for the recipient, with tracking as the campaign asks. A template that fails while
    rendering (a filter given a value it cannot take) raises CampaignTemplateInvalid naming the field."""
    values = template_context(campaign, recipient)
    subject = " ".join(_render(templates.subject, values, field="subject", autoescape=False).split())
    text = _render(templates.text_body, values, field="text_body", autoescape=False)
    body = _render(templates.html_body, values, field="html_body", autoescape=True)
    if campaign.track_clicks:
        body = tracked_links(body, recipient)
    if campaign.track_opens:
        body = with_open_pixel(body, tracking.open_url(delivery_id=recipient.delivery_id))
    return RenderedMail(subject=subject, html=body, text=text)


def _render(template: Template, values: dict[str, Any], *, field: str, autoescape: bool) -> str:
    try:
        return template.render(Context(values, autoescape=autoescape))
    except Exception as error:  # anything a filter or tag raises: the campaign's fault, named, never a crash
        raise CampaignTemplateInvalid(f"{field} could not be rendered: {error}", field=field) from None


def tracked_links(body: str, recipient: Recipient) -> str:
    """Every http(s) link through the signed click redirect, except the subscriber's own unsubscribe and preferences
    links (never counted as clicks, and they must keep working exactly as sent)."""
    own = {recipient.unsubscribe_url, recipient.preferences_url}

    def rewrite(match: re.Match[str]) -> str:
        start, quote, value = match.group(1), match.group(2), match.group(3)
        url = html.unescape(value).strip()
        if url in own or not tracking.is_trackable(url):
            return match.group(0)
        tracked = tracking.click_url(delivery_id=recipient.delivery_id, url=url)
        return f"{start}{quote}{html.escape(tracked, quote=True)}{quote}"

    return ANCHOR_HREF.sub(rewrite, body)


def with_open_pixel(body: str, pixel_url: str) -> str:
    image = f'<img src="{html.escape(pixel_url, quote=True)}" width="1" height="1" alt="" style="display:none">'
    ends = list(BODY_END.finditer(body))
    if not ends:
        return body + image
    at = ends[-1].start()
    return body[:at] + image + body[at:]


def from_address(campaign: Campaign) -> str:
    return campaign.from_email or settings.NEWSLETTER["FROM_EMAIL"]


def list_id(mailing_list: MailingList) -> str:
    """RFC 2919: <slug.host>, the host of SITE_URL."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"{mailing_list.name} <{mailing_list.slug}.{host}>"


class UnfoldedHeader(str):
    """A header value the email package writes on one line as it is, never folded.

    The email package folds a line longer than 78 characters at its spaces; a List-Unsubscribe URL has none, so it
    would be written as RFC 2047 encoded words (`=?utf-8?q?=3Chttps=3A//...?=`), which mailbox providers do not read
    as a URL: RFC 2369 headers are structured, encoded words are not allowed in them, and one-click unsubscribe
    would be lost. The email package hands a value with a `name` and a `fold()` to that method instead of folding
    it (email.policy.EmailPolicy._fold); RFC 5322 allows lines up to 998 characters."""

    name: str

    def __new__(cls, name: str, value: str) -> UnfoldedHeader:
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: email.policy.Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


UNFOLDED_HEADERS = ("List-Unsubscribe",)


class CampaignMessage(EmailMultiAlternatives):
    """A campaign mail whose List-Unsubscribe header reaches the server as one plain line, whichever backend
    serialises it (the campaign's own SMTP sender, Django's SMTP backend for a test send)."""

    def message(
        self, *, policy: email.policy.Policy[email.message.Message[str, str]] | None = email.policy.default
    ) -> email.message.EmailMessage:
        built: email.message.EmailMessage = super().message(policy=policy)
        for name in UNFOLDED_HEADERS:
            value = built.get(name)
            if value is not None:
                built.replace_header(name, UnfoldedHeader(name, str(value)))
        return built


def message_for(campaign: Campaign, mail: RenderedMail, recipient: Recipient) -> EmailMultiAlternatives:
    """The mail, with the headers Gmail and Yahoo require of bulk senders: List-Unsubscribe (the one-click URL) and
    List-Unsubscribe-Post (RFC 8058), and a Message-ID of the sender's domain."""
    sender = from_address(campaign)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    headers = {
        "List-Unsubscribe": f"<{recipient.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": list_id(campaign.mailing_list),
        "Message-ID": make_msgid(domain=domain),
    }
    message = CampaignMessage(mail.subject, mail.text, sender, [recipient.email], headers=headers)
    message.attach_alternative(mail.html, "text/html")
    return message


def recipient_of(subscription: Subscription, *, campaign: Campaign, delivery: Delivery | None = None) -> Recipient:
    """The subscription's recipient; with its row of the send log, at the address that row was listed with."""
    subscriber = subscription.subscriber
    return Recipient(
        email=delivery.email if delivery is not None else subscriber.email,
        name=subscriber.name,
        unsubscribe_url=unsubscribe_url(subscription, campaign_id=campaign.pk),
        preferences_url=preferences_url(subscriber),
        delivery_id=delivery.pk if delivery is not None else None,
    )


def sample_recipient(*, email: str = SAMPLE_EMAIL, name: str = SAMPLE_NAME) -> Recipient:
    """Who a preview or a test send is for when no subscriber is named. Its unsubscribe and preferences links are
    made for a subscriber that does not exist (a new key, subscription 0): they look like the real ones and act on
    nobody."""
    sample = Subscriber(email=email, name=name)
    return Recipient(
        email=email,
        name=name,
        unsubscribe_url=unsubscribe_url(Subscription(pk=0, subscriber=sample)),
        preferences_url=preferences_url(sample),
    )
