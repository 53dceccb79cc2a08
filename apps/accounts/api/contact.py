"""Changing the email address or phone number: a code to the new one and one to the account's existing channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import contact_change
from apps.accounts.api.common import (
    ChangeStartedSerializer,
    UserSerializer,
    change_started_body,
    client_of,
    user_body,
    user_of,
)
from apps.accounts.api.fields import ContactField, code_field
from apps.accounts.models import Channel
from apps.accounts.throttles import ContactChangeThrottle, ContactConfirmThrottle, OtpIpThrottle, VerifyIpThrottle
from modules.api.schema import error_responses

ViewMethod = Callable[[Any, Request], Response]


class EmailChangeSerializer(serializers.Serializer[Any]):
    email = ContactField("email", max_length=254, help_text="The new email address")


class PhoneChangeSerializer(serializers.Serializer[Any]):
    phone = ContactField("phone", max_length=32, help_text="The new phone number in international form")
    # A plain string for the same reason as ChangeStartedSerializer.account_channel: one enum name per set of choices.
    channel = serializers.CharField(
        required=False,
        help_text="sms or whatsapp: how the new number gets its code (default: the first configured of the two)",
    )

    def validate_channel(self, value: str) -> str:
        if value not in (Channel.SMS, Channel.WHATSAPP):
            raise serializers.ValidationError("Choose sms or whatsapp.")
        return value


class ChangeConfirmSerializer(serializers.Serializer[Any]):
    new_code = code_field("the new email address or phone number")
    account_code = code_field("the account's existing channel (email, else phone, else the linked Telegram chat)")


class ContactChangeView(APIView):
    """Starting an email or phone change: the subclasses name the flow and document the body."""

    permission_classes = (IsAuthenticated,)
    throttle_classes = (OtpIpThrottle, ContactChangeThrottle)
    flow: contact_change.Flow
    serializer_class: type[EmailChangeSerializer | PhoneChangeSerializer]

    def start(self, request: Request) -> Response:
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        identifier = serializer.validated_data[self.flow.field]
        channel = contact_change.contact_change_start(
            flow=self.flow,
            user=user_of(request),
            identifier=identifier,
            channel=serializer.validated_data.get("channel"),
            client=client_of(request),
        )
        return Response(
            change_started_body(
                new_value=identifier.value, account_channel=channel, confirm_path=f"{self.flow.path}confirm/"
            )
        )


class ContactChangeConfirmView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (VerifyIpThrottle, ContactConfirmThrottle)
    flow: contact_change.Flow

    def confirm(self, request: Request) -> Response:
        serializer = ChangeConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = contact_change.contact_change_confirm(
            flow=self.flow, user=user_of(request), client=client_of(request), **serializer.validated_data
        )
        return Response(user_body(user, request))


def change_start_schema(
    noun: str, request: type[EmailChangeSerializer | PhoneChangeSerializer]
) -> Callable[[ViewMethod], ViewMethod]:
    return extend_schema(
        tags=["accounts"],
        summary=f"Start changing the {noun}",
        description=f"Sends one code to the new {noun} and one to the account's existing channel (email, else "
        "phone, else the linked Telegram chat). Nothing changes until both are confirmed at the confirm/ endpoint "
        "below this one.",
        request=request,
        responses={
            200: ChangeStartedSerializer,
            **error_responses(
                {
                    400: f"Bad {noun}, the current one, or its channel not configured (one used by another account "
                    "is refused at confirmation, not here)",
                    401: "Not signed in",
                    429: "Too many change requests",
                    503: "A provider failed; no change is pending",
                }
            ),
        },
    )


def change_confirm_schema(noun: str) -> Callable[[ViewMethod], ViewMethod]:
    return extend_schema(
        tags=["accounts"],
        summary=f"Confirm a {noun} change with both codes",
        description=f"Then the old {noun} is told, and sign-in codes sent to it stop working.",
        request=ChangeConfirmSerializer,
        responses={
            200: UserSerializer,
            **error_responses(
                {
                    400: f"A code is wrong, expired or used; no change pending; the {noun} was taken meanwhile",
                    401: "Not signed in",
                    429: "Too many attempts",
                }
            ),
        },
    )


class EmailChangeView(ContactChangeView):
    flow = contact_change.EMAIL
    serializer_class = EmailChangeSerializer

    @change_start_schema("email address", EmailChangeSerializer)
    def post(self, request: Request) -> Response:
        return self.start(request)


class EmailChangeConfirmView(ContactChangeConfirmView):
    flow = contact_change.EMAIL

    @change_confirm_schema("email address")
    def post(self, request: Request) -> Response:
        return self.confirm(request)


class PhoneChangeView(ContactChangeView):
    flow = contact_change.PHONE
    serializer_class = PhoneChangeSerializer

    @change_start_schema("phone number", PhoneChangeSerializer)
    def post(self, request: Request) -> Response:
        return self.start(request)


class PhoneChangeConfirmView(ContactChangeConfirmView):
    flow = contact_change.PHONE

    @change_confirm_schema("phone number")
    def post(self, request: Request) -> Response:
        return self.confirm(request)
