"""Deleting the account: a code to the account's existing channel, then the code to confirm."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.api.common import client_of, user_of
from apps.accounts.api.fields import code_field
from apps.accounts.throttles import ContactChangeThrottle, ContactConfirmThrottle, OtpIpThrottle, VerifyIpThrottle
from modules.api.schema import error_responses


class DeletionStartedSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    account_channel = serializers.CharField(help_text="Where the code was sent: email, sms, whatsapp or telegram")
    expires_in_minutes = serializers.IntegerField()


class DeletionConfirmSerializer(serializers.Serializer[Any]):
    code = code_field("the account's existing channel (email, else phone, else the linked Telegram chat)")


class AccountDeleteView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (OtpIpThrottle, ContactChangeThrottle)

    @extend_schema(
        tags=["accounts"],
        summary="Ask to delete the current account",
        description="Sends a code to the account's existing channel. Nothing is deleted until it is confirmed at "
        "/api/accounts/me/delete/confirm/.",
        request=None,
        responses={
            200: DeletionStartedSerializer,
            **error_responses(
                {
                    400: "The account has no channel to send a code to",
                    401: "Not signed in",
                    429: "Too many requests",
                    503: "The provider failed; no code was sent",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        channel = services.account_delete_start(user=user_of(request), client=client_of(request))
        minutes = settings.ACCOUNTS["OTP_EXPIRY_MINUTES"]
        return Response(
            {
                "detail": f"A code was sent to your {channel}. Confirm within {minutes} minutes at "
                "/api/accounts/me/delete/confirm/.",
                "account_channel": channel,
                "expires_in_minutes": minutes,
            }
        )


class AccountDeleteConfirmView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (VerifyIpThrottle, ContactConfirmThrottle)

    @extend_schema(
        tags=["accounts"],
        summary="Delete the current account",
        description="Deactivates the account, removes its personal data and revokes its refresh tokens.",
        request=DeletionConfirmSerializer,
        responses={
            204: OpenApiResponse(description="Deleted"),
            **error_responses({400: "Wrong, expired or used code; none asked for", 401: "Not signed in"}),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = DeletionConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.account_delete(
            user=user_of(request), code=serializer.validated_data["code"], client=client_of(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
