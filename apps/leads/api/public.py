"""The public side: a form token for scripts, and the create-only submission endpoint for website forms."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.leads.api.common import TAG
from apps.leads.defences import form_token_issue
from apps.leads.intake import THANKS, SubmitSerializer, submission_receive
from apps.leads.throttles import SubmitThrottle
from modules.api.errors import JSONParser
from modules.api.schema import error_responses

# Every field at its longest, in characters of four UTF-8 bytes percent-encoded (12 bytes each: the page's script
# sends the form so) or escaped in JSON, is about 155 KB; more is refused unread (cfg.body_limit).
SUBMIT_BODY_BYTES = 160 * 1024


class PublicView(APIView):
    """Open to anyone; credentials sent along are ignored (and so is CSRF: nobody's session is acted for)."""

    permission_classes = (AllowAny,)
    authentication_classes = ()


class FormTokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send it back as form_token with the submission")
    min_fill_seconds = serializers.IntegerField(help_text="The submission is refused until this many seconds pass")
    expires_in = serializers.IntegerField(help_text="Seconds the token stays valid")
    turnstile_site_key = serializers.CharField(help_text="Render the Turnstile widget with it; empty: Turnstile is off")


class SubmitAcceptedSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    reference = serializers.UUIDField(help_text="Names the enquiry; the same submission again answers the same one")


class FormTokenView(PublicView):
    @extend_schema(
        tags=[TAG],
        summary="Get a form token",
        description="For a form rendered by script: the signed time it was shown. Send it back as `form_token`; a "
        "submission sooner than LEADS__MIN_FILL_SECONDS or later than LEADS__FORM_MAX_AGE after it is refused.",
        responses={200: FormTokenSerializer, **error_responses({429: "Too many requests from this address"})},
    )
    def get(self, request: Request) -> Response:
        conf = settings.LEADS
        response = Response(
            {
                "token": form_token_issue(),
                "min_fill_seconds": conf["MIN_FILL_SECONDS"],
                "expires_in": conf["FORM_MAX_AGE"],
                "turnstile_site_key": conf["TURNSTILE_SITE_KEY"] if conf["TURNSTILE_SECRET_KEY"] else "",
            }
        )
        response["Cache-Control"] = "no-store"
        return response


class SubmitView(PublicView):
    throttle_classes = (SubmitThrottle,)
    parser_classes = (JSONParser, FormParser)
    max_body_bytes = SUBMIT_BODY_BYTES

    def check_throttles(self, request: Request) -> None:
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                raise Throttled(throttle.wait(), detail="Too many submissions from your address.")

    @extend_schema(
        tags=[TAG],
        summary="Send an enquiry (website form)",
        description=(
            "Create-only and anonymous; JSON or form-encoded. Only the public fields are read (never a status or an "
            "assignee). Refused before any work, in order: a body over 160 KB (413), too many submissions from the "
            "address (429, Retry-After), a filled `website` trap (answered as a success; nothing is stored), a "
            "form token that is missing, forged, too fresh or too old (400), a bad field (400), and a failed "
            "Turnstile check when it is on (400; 503 when Cloudflare cannot be reached). The same submission again "
            "within LEADS__DEDUP_WINDOW answers the same reference and records nothing; a new one for an address "
            "that already has a lead adds to it. The answer is the same whether or not the address was known."
        ),
        request={"application/json": SubmitSerializer, "application/x-www-form-urlencoded": SubmitSerializer},
        responses={
            202: OpenApiResponse(SubmitAcceptedSerializer, description="Received"),
            **error_responses(
                {
                    400: "A bad field, form token or Turnstile token; the message says which",
                    413: "The body is too large",
                    429: "Too many submissions from this address; Retry-After says when to try again",
                    503: "Turnstile (or the throttle's store) cannot be reached; nothing was stored",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        reference = submission_receive(data=request.data, request=request._request)
        return Response({"detail": THANKS, "reference": str(reference)}, status=status.HTTP_202_ACCEPTED)
