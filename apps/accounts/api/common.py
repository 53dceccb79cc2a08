"""What the resources of the accounts API share: where a request came from, the user's body, a change started."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.accounts.activity import Client
from apps.accounts.identifiers import user_agent
from apps.accounts.models import User
from cfg.client_ip import client_ip

# An identifier and a code, or a refresh token, in JSON: a few hundred bytes. More is refused unread (cfg.body_limit).
SIGN_IN_BODY_BYTES = 4096


class PublicView(APIView):
    """Sign-in endpoints: open to anyone, and they ignore credentials sent along."""

    permission_classes = (AllowAny,)
    authentication_classes = ()
    max_body_bytes = SIGN_IN_BODY_BYTES

    def check_throttles(self, request: Request) -> None:
        """Stop at the first throttle that refuses. DRF asks every throttle, and the per-identifier ones parse the
        body: a request already refused for its IP must cost nothing more."""
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                # Throttled's own message unless the throttle words its refusal (OtpIdentifierThrottle).
                raise Throttled(throttle.wait(), detail=getattr(throttle, "refusal", None))


def user_of(request: Request) -> User:
    """The signed-in user of a view that requires one (IsAuthenticated has run)."""
    return cast(User, request.user)


def client_of(request: Request) -> Client:
    return Client(ip=client_ip(request._request), user_agent=user_agent(request))


class DetailSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()


# Formats a datetime as every DateTimeField of the API does (DATETIME_FORMAT, the current time zone).
TIMESTAMP = serializers.DateTimeField()


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

    def to_representation(self, instance: User) -> dict[str, Any]:
        # Every authenticated read of the profile answers this body. A ModelSerializer builds its fields for each
        # instance (330 µs; 150 µs as a plain Serializer: a deep copy of each declared field); written out, 25 µs.
        # The fields above still describe it for the schema and nested use; a test checks that DRF's generic
        # representation gives the same body.
        request = self.context.get("request")
        avatar = instance.avatar.url if instance.avatar else None
        if avatar is not None and request is not None:
            avatar = request.build_absolute_uri(avatar)
        return {
            "id": instance.pk,
            "email": instance.email,
            "phone": instance.phone,
            "first_name": instance.first_name,
            "last_name": instance.last_name,
            "full_name": instance.get_full_name(),
            "avatar": avatar,
            "telegram_chat_id": instance.telegram_chat_id,
            "registration_source": str(instance.registration_source),
            "date_joined": TIMESTAMP.to_representation(instance.date_joined),
            "last_login": TIMESTAMP.to_representation(instance.last_login) if instance.last_login else None,
        }


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
