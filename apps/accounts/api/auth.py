"""Sign-in and tokens: request a code, exchange it for JWT tokens, rotate the refresh token, sign out."""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.api.common import (
    SIGN_IN_BODY_BYTES,
    DetailSerializer,
    PublicView,
    UserSerializer,
    client_of,
    user_body,
)
from apps.accounts.api.fields import IdentifierField, RefreshTokenField, code_field
from apps.accounts.models import Channel
from apps.accounts.throttles import OtpIdentifierThrottle, OtpIdentifierTotalThrottle, OtpIpThrottle, VerifyIpThrottle
from modules.api.after_response import run_after_response
from modules.api.schema import error_responses

CODE_SENT = "If the account can sign in, a code is on its way. It expires in {minutes} minutes."


class OtpRequestSerializer(serializers.Serializer[Any]):
    identifier = IdentifierField(max_length=254, help_text="Email address or E.164 phone number")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.EMAIL)


class OtpVerifySerializer(serializers.Serializer[Any]):
    identifier = IdentifierField(max_length=254)
    code = code_field("the identifier")


class SignInSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()
    created = serializers.BooleanField(help_text="True when this sign-in registered the account")


class RefreshSerializer(serializers.Serializer[Any]):
    refresh = RefreshTokenField()


class TokenPairSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
    refresh = serializers.CharField()


class OtpRequestView(PublicView):
    throttle_classes = (OtpIpThrottle, OtpIdentifierThrottle, OtpIdentifierTotalThrottle)

    @extend_schema(
        tags=["auth"],
        summary="Send a sign-in code",
        request=OtpRequestSerializer,
        responses={
            200: OpenApiResponse(DetailSerializer, description="The same answer whether or not the account exists"),
            **error_responses(
                {
                    400: "Bad identifier, or the channel is not configured",
                    429: "Too many requests for this identifier or IP",
                    503: "The provider failed; no code was sent",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = OtpRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        delivery = services.otp_request(**serializer.validated_data, client=client_of(request))
        response = Response({"detail": CODE_SENT.format(minutes=settings.ACCOUNTS["OTP_EXPIRY_MINUTES"])})
        # Sent after the answer, so that its time does not tell who has an account.
        run_after_response(response, delivery)
        return response


class OtpVerifyView(PublicView):
    # Wrong codes count against the code (it dies after OTP_MAX_ATTEMPTS) and the caller's IP, never against the
    # identifier: strangers failing on purpose must not lock the owner out of a code that was just sent to them.
    throttle_classes = (VerifyIpThrottle,)

    @extend_schema(
        tags=["auth"],
        summary="Exchange a code for JWT tokens",
        request=OtpVerifySerializer,
        responses={
            200: SignInSerializer,
            **error_responses({400: "Wrong, expired or used code", 429: "Too many attempts"}),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = OtpVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, created = services.otp_verify(**serializer.validated_data, client=client_of(request))
        tokens = services.token_pair_issue(user=user)
        return Response({**asdict(tokens), "user": user_body(user, request), "created": created})


class TokenRefreshView(PublicView):
    @extend_schema(
        tags=["auth"],
        summary="Rotate a refresh token",
        description="Returns a new access and refresh token; the refresh token sent is blacklisted.",
        request=RefreshSerializer,
        responses={
            200: TokenPairSerializer,
            **error_responses({400: "No refresh token given", 401: "Invalid, expired or revoked token; inactive user"}),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Rotation: the old token is blacklisted, so a stolen one is good for one use at most.
        return Response(asdict(services.token_rotate(refresh=serializer.validated_data["refresh"])))


class LogoutView(APIView):
    permission_classes = (AllowAny,)
    max_body_bytes = SIGN_IN_BODY_BYTES

    def perform_authentication(self, request: Request) -> None:
        """The refresh token in the body is the credential; the access token is optional. A valid one signs the
        request in (and must then belong to the refresh token's owner); an expired, invalid or revoked one leaves it
        anonymous instead of answering 401: sign-out must work once the short-lived access token has expired, or the
        long-lived refresh token would stay valid."""
        # simplejwt's InvalidToken is an AuthenticationFailed; DRF makes the request anonymous before raising it.
        with contextlib.suppress(AuthenticationFailed):
            super().perform_authentication(request)

    @extend_schema(
        tags=["auth"],
        summary="Sign out: blacklist the refresh token",
        description="The refresh token is the credential. An access token is optional: an expired or invalid one "
        "is ignored; a valid one must belong to the refresh token's owner.",
        request=RefreshSerializer,
        responses={
            200: DetailSerializer,
            **error_responses(
                {
                    400: "No refresh token given",
                    401: "Invalid, expired or already revoked refresh token",
                    403: "Signed in as another user than the token's owner",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.token_revoke(
            refresh=serializer.validated_data["refresh"],
            signed_in=request.user if request.user.is_authenticated else None,
            client=client_of(request),
        )
        return Response({"detail": "Signed out."})
