"""The embeddable lead form (GET /leads/form/) and its thank-you page: plain Django pages that work without
JavaScript. Sent without a script, the form posts to itself and goes through the same path as the API endpoint
(apps.leads.intake), the same per-address throttle included; with one (static/leads/form.js), it posts to
POST /api/leads/submit/.

Both pages may be shown in an iframe by this site and by LEADS__EMBED_ORIGINS, and only they: the rest of the site
keeps `frame-ancestors 'none'` and X-Frame-Options: DENY. CSRF is off for the form's POST as for the API endpoint:
the form acts on nobody's session, and a cookie would not reach a form embedded on another site anyway; the signed
form token and the throttle stand in its place."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from apps.leads.api.public import SUBMIT_BODY_BYTES
from apps.leads.defences import HONEYPOT_FIELD, form_token_issue
from apps.leads.exceptions import FormTokenInvalid
from apps.leads.intake import submission_receive
from apps.leads.models import (
    COMPANY_MAX,
    EMAIL_MAX,
    MESSAGE_MAX,
    NAME_MAX,
    PHONE_MAX,
    SOURCE_MAX,
    URL_MAX,
    UTM_FIELDS,
    UTM_MAX,
)
from apps.leads.throttles import SubmitThrottle
from apps.leads.turnstile import SCRIPT_SOURCE, turnstile_enabled
from modules.api.errors import field_messages
from modules.api.exceptions import ServiceError

VISIBLE_FIELDS = ("name", "email", "phone", "company", "message")
HIDDEN_FIELDS: dict[str, int] = {
    "source": SOURCE_MAX,
    **dict.fromkeys(UTM_FIELDS, UTM_MAX),
    "referrer": URL_MAX,
    "landing_page": URL_MAX,
}
MAX_LENGTHS = {"name": NAME_MAX, "email": EMAIL_MAX, "phone": PHONE_MAX, "company": COMPANY_MAX, "message": MESSAGE_MAX}
TOO_MANY = "Too many submissions from your address: try again in {seconds} seconds."


def frameable(response: HttpResponseBase) -> HttpResponseBase:
    """The site's Content-Security-Policy with this page's frame-ancestors (this site and LEADS__EMBED_ORIGINS)
    and, with Turnstile on, its script and frame; X-Frame-Options to match."""
    origins = list(settings.LEADS["EMBED_ORIGINS"])
    report_only = bool(getattr(settings, "SECURE_CSP_REPORT_ONLY", None))
    base = dict(settings.SECURE_CSP_REPORT_ONLY if report_only else getattr(settings, "SECURE_CSP", None) or {})
    policy: dict[str, Any] = {**base, "frame-ancestors": ["'self'", *origins]}
    if turnstile_enabled():
        policy["script-src"] = [*base.get("script-src", ["'self'"]), SCRIPT_SOURCE]
        policy["frame-src"] = ["'self'", SCRIPT_SOURCE]
    setattr(response, "_csp_ro_config" if report_only else "_csp_config", policy)
    if origins:
        # X-Frame-Options names no list of sites: frame-ancestors alone says who may embed.
        response.xframe_options_exempt = True  # type: ignore[attr-defined]
    else:
        response["X-Frame-Options"] = "SAMEORIGIN"
    return response


def attribution(request: HttpRequest) -> dict[str, str]:
    """Where the visitor came from: the page's query string (source, utm_*, and referrer or landing_page when the
    embedding page passes them on), else the Referer header and this page's own address."""
    values = {name: request.GET.get(name, "")[:limit] for name, limit in HIDDEN_FIELDS.items()}
    values["referrer"] = values["referrer"] or request.headers.get("Referer", "")[:URL_MAX]
    values["landing_page"] = values["landing_page"] or request.build_absolute_uri()[:URL_MAX]
    return values


def form_page(
    request: HttpRequest,
    *,
    values: dict[str, Any],
    token: str,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> TemplateResponse:
    errors = errors or {}
    conf = settings.LEADS
    fields = [
        {
            "name": name,
            "value": values.get(name, ""),
            "errors": errors.get(name, []),
            "max_length": MAX_LENGTHS[name],
        }
        for name in VISIBLE_FIELDS
    ]
    beside = (*VISIBLE_FIELDS, "consent")
    general = [message for name, messages in errors.items() if name not in beside for message in messages]
    context = {
        "fields": {field["name"]: field for field in fields},
        "hidden": {name: values.get(name, "") for name in HIDDEN_FIELDS},
        "general_errors": general,
        "form_token": token,
        "honeypot": HONEYPOT_FIELD,
        "consent_text": conf["CONSENT_TEXT"],
        "consent_version": conf["CONSENT_VERSION"],
        "consent_checked": values.get("consent") in ("on", "true", "1", True),
        "consent_errors": errors.get("consent", []),
        "turnstile_site_key": conf["TURNSTILE_SITE_KEY"] if turnstile_enabled() else "",
        "api_url": reverse("leads:submit"),
        "thanks_url": reverse("leads:thanks"),
        "project_name": settings.PROJECT_NAME,
    }
    response = TemplateResponse(request, "leads/form.html", context, status=status)
    frameable(response)
    return response


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class LeadFormView(View):
    http_method_names = ["get", "post", "head", "options"]
    max_body_bytes = SUBMIT_BODY_BYTES

    def get(self, request: HttpRequest) -> HttpResponse:
        return form_page(request, values=attribution(request), token=form_token_issue())

    def post(self, request: HttpRequest) -> HttpResponse:
        values = {name: value for name, value in request.POST.items() if name in (*VISIBLE_FIELDS, *HIDDEN_FIELDS)}
        values["consent"] = request.POST.get("consent", "")
        token = request.POST.get("form_token", "")
        throttle = SubmitThrottle()
        try:
            if not throttle.allow_request(Request(request), self):
                seconds = round(throttle.wait() or 60)
                response = form_page(
                    request, values=values, token=token, errors={"": [TOO_MANY.format(seconds=seconds)]}, status=429
                )
                response["Retry-After"] = str(seconds)
                return response
            submission_receive(data=request.POST, request=request)
        except ValidationError as error:
            return form_page(request, values=values, token=token, errors=field_messages(error.detail), status=400)
        except ServiceError as error:
            fresh = form_token_issue() if isinstance(error, FormTokenInvalid) else token
            field = error.field if error.field in VISIBLE_FIELDS else ""
            return form_page(
                request, values=values, token=fresh, errors={field: [error.message]}, status=error.status_code
            )
        return HttpResponseRedirect(reverse("leads:thanks"), status=303)


# CSRF-exempt as the form is: a POST here is answered 405 (what the page takes), not with the CSRF failure page.
@csrf_exempt
@require_safe
@never_cache
def thanks(request: HttpRequest) -> HttpResponseBase:
    response = TemplateResponse(request, "leads/thanks.html", {"project_name": settings.PROJECT_NAME})
    return frameable(response)
