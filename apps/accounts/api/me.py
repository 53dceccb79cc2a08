"""The signed-in user: profile, avatar, activity log, and the Telegram chat that receives sign-in codes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services, telegram_link
from apps.accounts.api.common import (
    ChangeStartedSerializer,
    UserSerializer,
    change_started_body,
    client_of,
    user_body,
    user_of,
)
from apps.accounts.api.fields import code_field
from apps.accounts.contact_change import TELEGRAM
from apps.accounts.models import ActivityLog, User
from apps.accounts.selectors import activity_list_for_user
from apps.accounts.services import PROFILE_FIELDS
from apps.accounts.throttles import OtpIpThrottle, TelegramConfirmThrottle, TelegramLinkThrottle, VerifyIpThrottle
from modules.api.schema import error_responses

NOT_SIGNED_IN = {401: "Not signed in"}
CONTACT_FIXED = {
    "email": "Change the email address with POST /api/accounts/me/email/ (codes go to the new address and to your "
    "account's existing channel).",
    "phone": "Change the phone number with POST /api/accounts/me/phone/ (codes go to the new number and to your "
    "account's existing channel).",
}
TELEGRAM_CHAT_FIXED = (
    "telegram_chat_id cannot be changed here: it is a sign-in channel. Link a chat with POST "
    "/api/accounts/me/telegram/ (codes go to the chat and to your email or phone), unlink it with DELETE "
    "/api/accounts/me/telegram/."
)


class ProfileUpdateSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = PROFILE_FIELDS

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "telegram_chat_id" in self.initial_data:
            raise serializers.ValidationError(TELEGRAM_CHAT_FIXED)
        others = sorted(set(self.initial_data) - set(PROFILE_FIELDS))
        if others:
            pointers = "".join(f" {CONTACT_FIXED[name]}" for name in others if name in CONTACT_FIXED)
            raise serializers.ValidationError(
                f"These fields cannot be changed here: {', '.join(others)}. "
                f"Changeable: {', '.join(PROFILE_FIELDS)}.{pointers}"
            )
        return attrs


class AvatarUploadSerializer(serializers.Serializer[Any]):
    avatar = serializers.FileField(help_text="JPEG, PNG or WebP image")

    def validate_avatar(self, upload: Any) -> bytes:
        """The content, once within the size limit; the service checks the real format (not the name or type)."""
        limit = settings.ACCOUNTS["AVATAR_MAX_BYTES"]
        if upload.size > limit:
            raise serializers.ValidationError(f"The avatar is {upload.size} bytes; the limit is {limit} bytes.")
        content: bytes = upload.read()
        return content


class ActivitySerializer(serializers.ModelSerializer[ActivityLog]):
    class Meta:
        model = ActivityLog
        fields = ("id", "action", "ip", "user_agent", "details", "created_at")
        read_only_fields = fields


class TelegramLinkSerializer(serializers.Serializer[Any]):
    chat_id = serializers.RegexField(
        r"^-?[0-9]{1,20}$",  # ASCII digits: \d also matches other scripts' digits, which Telegram's ids never hold
        error_messages={"invalid": "A Telegram chat id is a number, e.g. 123456789."},
        help_text="The chat to link; the user must have started a conversation with the bot",
    )


class TelegramLinkConfirmSerializer(serializers.Serializer[Any]):
    telegram_code = code_field("the new Telegram chat")
    account_code = code_field("the account's existing channel (email, else phone, else the chat linked now)")


class MeView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=["accounts"],
        summary="The current user",
        description="The signed-in user's profile: contact details, sign-in channels and avatar.",
        responses={200: UserSerializer, **error_responses(NOT_SIGNED_IN)},
    )
    def get(self, request: Request) -> Response:
        return Response(user_body(user_of(request), request))

    @extend_schema(
        tags=["accounts"],
        summary="Update the current user",
        description="Changes the profile fields (first_name, last_name); send only those to change. The email "
        "address, phone number and Telegram chat are sign-in channels, changed with codes at their own endpoints.",
        request=ProfileUpdateSerializer,
        responses={200: UserSerializer, **error_responses({400: "Invalid or fixed field", **NOT_SIGNED_IN})},
    )
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(user_of(request), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.profile_update(user=user_of(request), client=client_of(request), **serializer.validated_data)
        return Response(user_body(user, request))


# Room for the multipart boundaries and headers around the file.
MULTIPART_OVERHEAD_BYTES = 16 * 1024


class AvatarView(APIView):
    permission_classes = (IsAuthenticated,)
    parser_classes = (MultiPartParser, FormParser)
    # The whole body is bounded by the avatar limit before it is read (cfg.body_limit): an oversized file is refused
    # before any of it is written anywhere, and a body this small stays in memory (FILE_UPLOAD_MAX_MEMORY_SIZE).
    max_body_bytes = staticmethod(lambda: settings.ACCOUNTS["AVATAR_MAX_BYTES"] + MULTIPART_OVERHEAD_BYTES)

    @extend_schema(
        tags=["accounts"],
        summary="Upload the current user's avatar",
        description="An image as multipart/form-data (JPEG, PNG or WebP unless configured otherwise), within the "
        "size limit. It is recognised by its content, not its name, and stored re-encoded in place of the last one.",
        request={"multipart/form-data": AvatarUploadSerializer},
        responses={200: UserSerializer, **error_responses({400: "Wrong type or size", **NOT_SIGNED_IN})},
    )
    def post(self, request: Request) -> Response:
        serializer = AvatarUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.avatar_set(
            user=user_of(request), upload=serializer.validated_data["avatar"], client=client_of(request)
        )
        return Response(user_body(user, request))


class ActivityListView(generics.ListAPIView[ActivityLog]):
    """The current user's own activity, newest first."""

    permission_classes = (IsAuthenticated,)
    serializer_class = ActivitySerializer

    @extend_schema(
        tags=["accounts"],
        summary="The current user's activity log",
        responses={200: ActivitySerializer(many=True), **error_responses({404: "No such page", **NOT_SIGNED_IN})},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ActivityLog]:
        return activity_list_for_user(user=user_of(self.request))


class TelegramLinkView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (OtpIpThrottle, TelegramLinkThrottle)

    @extend_schema(
        tags=["accounts"],
        summary="Start linking a Telegram chat for sign-in codes",
        description="Sends one code to the new chat and one to the account's existing channel (email, else phone, "
        "else the chat linked now). Nothing changes until both are confirmed at /api/accounts/me/telegram/confirm/.",
        request=TelegramLinkSerializer,
        responses={
            200: ChangeStartedSerializer,
            **error_responses(
                {
                    400: "Bad chat id, chat already linked, Telegram off",
                    **NOT_SIGNED_IN,
                    429: "Too many link requests",
                    503: "A provider failed; no link is pending",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TelegramLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        chat_id = serializer.validated_data["chat_id"]
        channel = telegram_link.telegram_link_start(user=user_of(request), chat_id=chat_id, client=client_of(request))
        return Response(
            change_started_body(
                new_value=f"Telegram chat {chat_id}", account_channel=channel, confirm_path=f"{TELEGRAM.path}confirm/"
            )
        )

    @extend_schema(
        tags=["accounts"],
        summary="Unlink the Telegram chat",
        description="Takes effect only once the account's other channel has been told; refused when Telegram is "
        "the only way the account can sign in.",
        request=None,
        responses={
            200: UserSerializer,
            **error_responses(
                {
                    400: "No chat linked, or Telegram is the only channel",
                    **NOT_SIGNED_IN,
                    429: "Too many requests",
                    503: "The notice could not be sent; nothing changed",
                }
            ),
        },
    )
    def delete(self, request: Request) -> Response:
        user = telegram_link.telegram_unlink(user=user_of(request), client=client_of(request))
        return Response(user_body(user, request))


class TelegramLinkConfirmView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (VerifyIpThrottle, TelegramConfirmThrottle)

    @extend_schema(
        tags=["accounts"],
        summary="Confirm a Telegram link with both codes",
        description="The code sent to the new chat and the one sent to the account's existing channel: when both "
        "are right the chat is linked and receives sign-in codes from then on.",
        request=TelegramLinkConfirmSerializer,
        responses={
            200: UserSerializer,
            **error_responses(
                {
                    400: "A code is wrong, expired or used; no link pending",
                    **NOT_SIGNED_IN,
                    429: "Too many attempts",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TelegramLinkConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = telegram_link.telegram_link_confirm(
            user=user_of(request), client=client_of(request), **serializer.validated_data
        )
        return Response(user_body(user, request))
