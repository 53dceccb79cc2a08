"""The subscribe page: a plain HTML form that works without JavaScript."""

from __future__ import annotations

import math

from django import forms
from django.http import HttpRequest, HttpResponse
from django.views import View

from apps.newsletter import tasks
from apps.newsletter.exceptions import ThrottleUnavailable
from apps.newsletter.selectors.audience import public_lists
from apps.newsletter.throttles import page_subscribe_wait
from apps.newsletter.views.common import PAGE_BODY_BYTES, consent_from, page
from apps.tasks.exceptions import TaskQueueUnavailable

CONSENT_TEXT = (
    "I agree to receive the newsletters ticked above by email. I can unsubscribe at any time with the link in "
    "every email."
)


class SubscribeForm(forms.Form):
    email = forms.EmailField(max_length=254)
    name = forms.CharField(max_length=200, required=False)
    lists = forms.ModelMultipleChoiceField(
        queryset=public_lists(),
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one list."},
    )
    consent = forms.BooleanField(label=CONSENT_TEXT, error_messages={"required": "Tick the box to give your consent."})
    # A field people never see (hidden by the page's style) and bots fill in: such a request is answered as any
    # other, and does nothing.
    website = forms.CharField(required=False, max_length=200)


class SubscribePage(View):
    http_method_names = ["get", "post", "head", "options"]
    max_body_bytes = PAGE_BODY_BYTES

    def get(self, request: HttpRequest) -> HttpResponse:
        form = SubscribeForm(initial={"lists": list(request.GET.getlist("list"))[:20]})
        return page(request, "newsletter/subscribe.html", {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.subscribe(request)
        except (ThrottleUnavailable, TaskQueueUnavailable):
            # Redis is away: the throttle cannot count, or the queue cannot take the subscription. Nothing was done.
            form = SubscribeForm(request.POST)
            response = page(request, "newsletter/subscribe.html", {"form": form, "unavailable": True}, status=503)
            response["Retry-After"] = "60"
            return response

    def subscribe(self, request: HttpRequest) -> HttpResponse:
        wait = page_subscribe_wait(request)
        if wait is not None:
            response = page(
                request,
                "newsletter/subscribe.html",
                {"form": SubscribeForm(request.POST), "throttled_minutes": math.ceil(wait / 60)},
                status=429,
            )
            response["Retry-After"] = str(math.ceil(wait))
            return response
        form = SubscribeForm(request.POST)
        if not form.is_valid():
            return page(request, "newsletter/subscribe.html", {"form": form}, status=400)
        if not form.cleaned_data["website"]:
            tasks.subscribe_later(
                email=form.cleaned_data["email"],
                name=form.cleaned_data["name"],
                mailing_lists=form.cleaned_data["lists"],
                consent=consent_from(request, source="subscribe page", form_text=CONSENT_TEXT),
                user=request.user if request.user.is_authenticated else None,
            )
        return page(request, "newsletter/subscribed.html", {"email": form.cleaned_data["email"]})
