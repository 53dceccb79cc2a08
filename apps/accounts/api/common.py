"""What the resources of the accounts API share: where a request came from, the user's body, a change started."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.accounts.activity import Client
from apps.accounts.identifiers import client_ip, user_agent
from apps.accounts.models import User


class PublicView(APIView):
    """Sign-in endpoints: open to anyone, and they ignore credentials sent along."""

    permission_classes = (AllowAny,)
    authentication_classes = ()


def user_of(request: Request) -> User:
    """The signed-in user of a view that requires one (IsAuthenticated has run)."""
    return cast(User, request.user)


def client_of(request: Request) -> Client:
    return Client(
        ip=client_ip(request._request, settings.ACCOUNTS["TRUSTED_PROXY_HOPS"]), user_agent=user_agent(request)
    )


class DetailSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()


class UserSerializer(serializers.ModelSerializer[User]):
    full_name = serializers.CharField(source="get_full_name", read_only=True)
    avatar = serializers.ImageField(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "full_name",
            "avatar",
            "telegram_chat_id",
            "registration_source",
            "date_joined",
            "last_login",
        )
        read_only_fields = fields


def user_body(user: User, request: Request) -> Any:
    return UserSerializer(user, context={"request": request}).data


class ChangeStartedSerializer(serializers.Serializer[Any]):
    """The answer to starting a Telegram link or an email or phone change: two codes are on their way."""

    detail = serializers.CharField()
    # A plain string: a second ChoiceField over Channel would give the schema two enum names for one set.
    account_channel = serializers.CharField(
        help_text="Where the account_code was sent, the account's existing channel: email, sms, whatsapp or telegram"
    )
    expires_in_minutes = serializers.IntegerField()


def change_started_body(*, new_value: str, account_channel: str, confirm_path: str) -> dict[str, Any]:
    minutes = settings.ACCOUNTS["OTP_EXPIRY_MINUTES"]
    return {
        "detail": f"Codes sent to {new_value} and to your {account_channel}. Confirm both within "
        f"{minutes} minutes at {confirm_path}.",
        "account_channel": account_channel,
        "expires_in_minutes": minutes,
    }
