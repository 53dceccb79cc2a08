"""The pages reached through the links mailed to a subscriber: confirm, unsubscribe, preferences.

None of them changes anything on GET: mail scanners and link previews fetch every link in a message, and a GET
that confirmed or unsubscribed would act for whoever's scanner passed by. Each GET shows a page with a button; the
button POSTs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.newsletter import links
from apps.newsletter.exceptions import LinkNoLongerValid
from apps.newsletter.models import Subscriber, Subscription
from apps.newsletter.selectors.audience import is_suppressed, public_lists, subscriptions_of
from apps.newsletter.services import audience as services
from apps.newsletter.views.common import PAGE_BODY_BYTES, bad_link, consent_from, data_download, page

TAMPERED = "This link is not valid: it may have been cut short or changed. Copy the whole link from the email."
EXPIRED = "This confirmation link has expired."
GONE = LinkNoLongerValid.message


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """GET: a page with an Unsubscribe button, changing nothing. POST: unsubscribe at once, whatever the body.

    CSRF-exempt because RFC 8058's one-click POST comes from the mail provider, with no cookie and no CSRF token:
    the signed token in the URL is the proof, and it only ever unsubscribes (the harmless direction)."""

    http_method_names = ["get", "post", "head", "options"]
    max_body_bytes = PAGE_BODY_BYTES

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        found = self.subscription(request, token)
        if isinstance(found, HttpResponse):
            return found
        return page(request, "newsletter/unsubscribe.html", {"subscription": found, "done": False})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        found = self.subscription(request, token)
        if isinstance(found, HttpResponse):
            return found
        source = "one-click" if request.POST.get("List-Unsubscribe") == "One-Click" else "unsubscribe page"
        services.unsubscribe(
            subscription=found,
            consent=consent_from(request, source=source),
            campaign_id=links.read_unsubscribe_token(token).campaign_id,
        )
        return page(
            request,
            "newsletter/unsubscribe.html",
            {"subscription": found, "done": True, "preferences_url": links.preferences_url(found.subscriber)},
        )

    def subscription(self, request: HttpRequest, token: str) -> Subscription | HttpResponse:
        try:
            data = links.read_unsubscribe_token(token)
        except links.BadLink:
            return bad_link(request, TAMPERED)
        subscription = (
            Subscription.objects.select_related("subscriber", "mailing_list").filter(pk=data.subscription_id).first()
        )
        if subscription is None:
            # The subscriber deleted their data: there is nothing left to unsubscribe, which is what was asked.
            return page(request, "newsletter/unsubscribe.html", {"subscription": None, "done": True})
        return subscription


class ConfirmView(View):
    """GET: a page with a Confirm button. POST: confirm; or, for an expired link, mail a new one (resend=1)."""

    http_method_names = ["get", "post", "head", "options"]
    max_body_bytes = PAGE_BODY_BYTES

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            data = links.read_confirm_token(token)
        except links.ExpiredLink:
            return self.refused(request, EXPIRED, resend=True)
        except links.BadLink:
            return self.refused(request, TAMPERED)
        subscriber = Subscriber.objects.filter(key=data.subscriber_key).first()
        if subscriber is None:
            return self.refused(request, GONE)
        pending = subscriptions_of(subscriber=subscriber).filter(mailing_list_id__in=data.mailing_list_ids)
        return page(request, "newsletter/confirm.html", {"subscriber": subscriber, "subscriptions": list(pending)})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            data = links.read_confirm_token(token)
        except links.ExpiredLink:
            if request.POST.get("resend"):
                return self.resend(request, token)
            return self.refused(request, EXPIRED, resend=True)
        except links.BadLink:
            return self.refused(request, TAMPERED)
        try:
            confirmed = services.confirm(token=data, consent=consent_from(request, source="confirmation link"))
        except LinkNoLongerValid:
            return self.refused(request, GONE)
        subscriber = confirmed[0].subscriber if confirmed else None
        return page(
            request,
            "newsletter/confirmed.html",
            {
                "subscriptions": confirmed,
                "preferences_url": links.preferences_url(subscriber) if subscriber else None,
            },
        )

    @staticmethod
    def refused(request: HttpRequest, message: str, *, resend: bool = False) -> HttpResponse:
        """The 400 page of a confirmation link that does not confirm: it offers to subscribe again (and, for an
        expired one, to mail a new link)."""
        return bad_link(request, message, subscribe=True, resend=resend)

    def resend(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = self.expired_subscriber(token)
        if subscriber is not None:
            services.resend_confirmation(subscriber=subscriber)
        # The same answer whether or not a mail went: the page must not tell whether the address is still there.
        return page(request, "newsletter/subscribed.html", {"resent": True})

    @staticmethod
    def expired_subscriber(token: str) -> Subscriber | None:
        """The subscriber of a link whose signature holds but whose time has run out."""
        try:
            key = links.read_confirm_token(token, expired_ok=True).subscriber_key
        except links.BadLink:
            return None
        return Subscriber.objects.filter(key=key).first()


class PreferencesForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    lists = forms.ModelMultipleChoiceField(
        queryset=public_lists(), to_field_name="slug", required=False, widget=forms.CheckboxSelectMultiple
    )


class PreferencesView(View):
    """The subscriber's own page: which public lists, their name, unsubscribe from everything, delete their data."""

    http_method_names = ["get", "post", "head", "options"]
    max_body_bytes = PAGE_BODY_BYTES

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = preferences_subscriber(request, token)
        if isinstance(subscriber, HttpResponse):
            return subscriber
        return self.show(request, subscriber, token)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = preferences_subscriber(request, token)
        if isinstance(subscriber, HttpResponse):
            return subscriber
        action = request.POST.get("action", "save")
        consent = consent_from(request, source="preferences page")
        if action == "unsubscribe_all":
            never_again = bool(request.POST.get("never_again"))
            services.unsubscribe_all(subscriber=subscriber, consent=consent, never_again=never_again)
            return self.show(request, subscriber, token, notice="You are unsubscribed from every list.")
        if action == "delete":
            if request.POST.get("confirm_delete") != "yes":
                return self.show(
                    request,
                    subscriber,
                    token,
                    error="Tick the box to confirm that your data should be deleted.",
                    status=400,
                )
            services.subscriber_delete(subscriber=subscriber)
            return page(request, "newsletter/deleted.html")
        if action != "save":
            return self.show(request, subscriber, token, error=f"Unknown action {action[:40]!r}.", status=400)
        form = PreferencesForm(request.POST)
        if not form.is_valid():
            return self.show(request, subscriber, token, form=form, status=400)
        services.preferences_update(
            subscriber=subscriber,
            consent=consent,
            mailing_lists=form.cleaned_data["lists"],
            name=form.cleaned_data["name"],
        )
        return self.show(request, subscriber, token, notice="Your preferences are saved.")

    def show(
        self,
        request: HttpRequest,
        subscriber: Subscriber,
        token: str,
        *,
        form: PreferencesForm | None = None,
        notice: str = "",
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        subscriptions = list(subscriptions_of(subscriber=subscriber))
        active = {
            subscription.mailing_list.slug for subscription in subscriptions if subscription.status in services.ACTIVE
        }
        if form is None:
            form = PreferencesForm(initial={"name": subscriber.name, "lists": sorted(active)})
        context: dict[str, Any] = {
            "subscriber": subscriber,
            "form": form,
            "private_subscriptions": [
                subscription
                for subscription in subscriptions
                if not subscription.mailing_list.is_public and subscription.mailing_list.slug in active
            ],
            "suppressed": is_suppressed(email=subscriber.email),
            "export_url": f"{request.path.rstrip('/')}/export/",
            "notice": notice,
            "error": error,
            "token": token,
        }
        return page(request, "newsletter/preferences.html", context, status=status)


class PreferencesExportView(View):
    """The subscriber's data as a JSON download."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = preferences_subscriber(request, token)
        if isinstance(subscriber, HttpResponse):
            return subscriber
        response = data_download(subscriber)
        response["Referrer-Policy"] = "same-origin"
        return response


def preferences_subscriber(request: HttpRequest, token: str) -> Subscriber | HttpResponse:
    """The subscriber of a preferences link, or the 400 page of a link that was altered or whose subscriber is gone."""
    try:
        key = links.read_preferences_token(token)
    except links.BadLink:
        return bad_link(request, TAMPERED)
    subscriber = Subscriber.objects.filter(key=key).first()
    return subscriber if subscriber is not None else bad_link(request, GONE)
