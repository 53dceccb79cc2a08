"""The sign-in and profile API. Views validate input and call services; services do the work."""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, AuthenticationFailed, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts import contact_change, services, telegram_link
from apps.accounts.channels import DeliveryFailed
from apps.accounts.identifiers import client_ip, user_agent
from apps.accounts.models import ActivityLog
from apps.accounts.serializers import (
    ActivitySerializer,
    AvatarUploadSerializer,
    ChangeConfirmSerializer,
    ChangeStartedSerializer,
    DetailSerializer,
    EmailChangeSerializer,
    OtpRequestSerializer,
    OtpVerifySerializer,
    PhoneChangeSerializer,
    ProfileUpdateSerializer,
    RefreshSerializer,
    SignInSerializer,
    TelegramLinkConfirmSerializer,
    TelegramLinkSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from apps.accounts.throttles import (
    ContactChangeThrottle,
    ContactConfirmThrottle,
    OtpIdentifierThrottle,
    OtpIpThrottle,
    TelegramConfirmThrottle,
    TelegramLinkThrottle,
    VerifyIdentifierThrottle,
    VerifyIpThrottle,
)

CODE_SENT = "If the account can sign in, a code is on its way. It expires in {minutes} minutes."
BAD_REFRESH = "The refresh token is invalid, expired or revoked. Sign in again."


class PublicView(APIView):
    """Sign-in endpoints: open to anyone, and they ignore credentials sent along."""

    permission_classes = (AllowAny,)
    authentication_classes = ()


class ProviderUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The message could not be sent right now."
    default_code = "provider_unavailable"


class InvalidRefreshToken(APIException):
    # Not AuthenticationFailed: DRF turns that into 403 on views without authenticators.
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = BAD_REFRESH
    default_code = "token_not_valid"


def client_of(request: Request) -> services.Client:
    return services.Client(
        ip=client_ip(request._request, settings.ACCOUNTS["TRUSTED_PROXY_HOPS"]), user_agent=user_agent(request)
    )


def error(message: str) -> dict[str, str]:
    return {"detail": message}


class OtpRequestView(PublicView):
    throttle_classes = (OtpIpThrottle, OtpIdentifierThrottle)

    @extend_schema(
        tags=["auth"],
        summary="Send a sign-in code",
        request=OtpRequestSerializer,
        responses={
            200: OpenApiResponse(DetailSerializer, description="The same answer whether or not the account exists"),
            400: OpenApiResponse(DetailSerializer, description="Bad identifier, or the channel is not configured"),
            429: OpenApiResponse(DetailSerializer, description="Too many requests for this identifier or IP"),
            503: OpenApiResponse(DetailSerializer, description="The provider failed; no code was sent"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = OtpRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = serializer.validated_data["channel"]
        try:
            services.otp_request(serializer.validated_data["identifier"], channel, client=client_of(request))
        except (services.ChannelUnavailable, services.ChannelMismatch) as problem:
            raise ValidationError(error(str(problem))) from None
        except DeliveryFailed:
            raise ProviderUnavailable(
                f"The {channel} provider did not take the message; no code was sent. Try again later "
                "or choose another channel."
            ) from None
        return Response(error(CODE_SENT.format(minutes=settings.ACCOUNTS["OTP_EXPIRY_MINUTES"])))


class OtpVerifyView(PublicView):
    throttle_classes = (VerifyIpThrottle, VerifyIdentifierThrottle)

    @extend_schema(
        tags=["auth"],
        summary="Exchange a code for JWT tokens",
        request=OtpVerifySerializer,
        responses={
            200: SignInSerializer,
            400: OpenApiResponse(DetailSerializer, description="Wrong, expired or used code"),
            429: OpenApiResponse(DetailSerializer, description="Too many attempts"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = OtpVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user, created = services.otp_verify(
                serializer.validated_data["identifier"], serializer.validated_data["code"], client=client_of(request)
            )
        except services.InvalidCode as problem:
            raise ValidationError(error(str(problem))) from None
        refresh = RefreshToken.for_user(user)
        body = {
            "access": str(refresh.access_token),
            "refresh": str(refresh),
            "user": UserSerializer(user, context={"request": request}).data,
            "created": created,
        }
        return Response(body)


def refresh_token_of(request: Request) -> RefreshToken:
    """The verified refresh token in the body: 400 when missing, 401 when invalid, expired or blacklisted."""
    serializer = RefreshSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        return RefreshToken(serializer.validated_data["refresh"])
    except TokenError:
        raise InvalidRefreshToken() from None


class TokenRefreshView(PublicView):
    @extend_schema(
        tags=["auth"],
        summary="Rotate a refresh token",
        description="Returns a new access and refresh token; the refresh token sent is blacklisted.",
        request=RefreshSerializer,
        responses={
            200: TokenPairSerializer,
            400: OpenApiResponse(DetailSerializer, description="No refresh token given"),
            401: OpenApiResponse(DetailSerializer, description="Invalid, expired or revoked token; inactive user"),
        },
    )
    def post(self, request: Request) -> Response:
        # Rotation: the old token is blacklisted, so a stolen one is good for one use at most.
        try:
            fresh = services.token_rotate(refresh_token_of(request))
        except services.TokenRevoked:
            raise InvalidRefreshToken() from None
        return Response({"access": str(fresh.access_token), "refresh": str(fresh)})


class LogoutView(APIView):
    permission_classes = (AllowAny,)

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
            400: OpenApiResponse(DetailSerializer, description="No refresh token given"),
            401: OpenApiResponse(DetailSerializer, description="Invalid, expired or already revoked refresh token"),
            403: OpenApiResponse(DetailSerializer, description="Signed in as another user than the token's owner"),
        },
    )
    def post(self, request: Request) -> Response:
        refresh = refresh_token_of(request)
        owner = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
        if request.user.is_authenticated and str(owner) != str(request.user.pk):
            raise PermissionDenied("This refresh token belongs to another user.")
        services.logout(refresh, client=client_of(request))
        return Response(error("Signed out."))


class MeView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(tags=["accounts"], summary="The current user", responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user, context={"request": request}).data)

    @extend_schema(
        tags=["accounts"],
        summary="Update the current user",
        request=ProfileUpdateSerializer,
        responses={200: UserSerializer, 400: OpenApiResponse(DetailSerializer, description="Invalid or fixed field")},
    )
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.profile_update(request.user, client=client_of(request), **serializer.validated_data)
        return Response(UserSerializer(user, context={"request": request}).data)

    @extend_schema(
        tags=["accounts"],
        summary="Delete the current account",
        description="Deactivates the account, removes its personal data and revokes its refresh tokens.",
        request=None,
        responses={204: OpenApiResponse(description="Deleted")},
    )
    def delete(self, request: Request) -> Response:
        services.account_delete(request.user, client=client_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AvatarView(APIView):
    permission_classes = (IsAuthenticated,)
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(
        tags=["accounts"],
        summary="Upload the current user's avatar",
        request={"multipart/form-data": AvatarUploadSerializer},
        responses={200: UserSerializer, 400: OpenApiResponse(DetailSerializer, description="Wrong type or size")},
    )
    def post(self, request: Request) -> Response:
        serializer = AvatarUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        content, extension = serializer.validated_data["avatar"]
        user = services.avatar_set(request.user, content, extension, client=client_of(request))
        return Response(UserSerializer(user, context={"request": request}).data)


class ActivityListView(generics.ListAPIView):
    """The current user's own activity, newest first."""

    permission_classes = (IsAuthenticated,)
    serializer_class = ActivitySerializer

    @extend_schema(tags=["accounts"], summary="The current user's activity log")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ActivityLog]:
        return ActivityLog.objects.filter(user=self.request.user).order_by("-created_at", "-id")


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
            400: OpenApiResponse(DetailSerializer, description="Bad chat id, chat already linked, Telegram off"),
            401: OpenApiResponse(DetailSerializer, description="Not signed in"),
            429: OpenApiResponse(DetailSerializer, description="Too many link requests"),
            503: OpenApiResponse(DetailSerializer, description="A provider failed; no link is pending"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TelegramLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        chat_id = serializer.validated_data["chat_id"]
        try:
            channel = telegram_link.link_start(request.user, chat_id, client=client_of(request))
        except contact_change.ChangeRefused as problem:
            raise ValidationError(error(str(problem))) from None
        except DeliveryFailed:
            raise ProviderUnavailable(
                "A code could not be sent (to the Telegram chat or to your account); nothing is pending. Check that "
                "the chat has started a conversation with the bot, then try again."
            ) from None
        minutes = settings.ACCOUNTS["OTP_EXPIRY_MINUTES"]
        return Response(
            {
                "detail": f"Codes sent to Telegram chat {chat_id} and to your {channel}. Confirm both within "
                f"{minutes} minutes at /api/accounts/me/telegram/confirm/.",
                "account_channel": channel,
                "expires_in_minutes": minutes,
            }
        )

    @extend_schema(
        tags=["accounts"],
        summary="Unlink the Telegram chat",
        description="Takes effect only once the account's other channel has been told; refused when Telegram is "
        "the only way the account can sign in.",
        request=None,
        responses={
            200: UserSerializer,
            400: OpenApiResponse(DetailSerializer, description="No chat linked, or Telegram is the only channel"),
            401: OpenApiResponse(DetailSerializer, description="Not signed in"),
            429: OpenApiResponse(DetailSerializer, description="Too many requests"),
            503: OpenApiResponse(DetailSerializer, description="The notice could not be sent; nothing changed"),
        },
    )
    def delete(self, request: Request) -> Response:
        try:
            user = telegram_link.unlink(request.user, client=client_of(request))
        except contact_change.ChangeRefused as problem:
            raise ValidationError(error(str(problem))) from None
        except DeliveryFailed:
            raise ProviderUnavailable(
                "The notice to your account's other channel could not be sent, so the chat stays linked. "
                "Try again later."
            ) from None
        return Response(UserSerializer(user, context={"request": request}).data)


class TelegramLinkConfirmView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (VerifyIpThrottle, TelegramConfirmThrottle)

    @extend_schema(
        tags=["accounts"],
        summary="Confirm a Telegram link with both codes",
        request=TelegramLinkConfirmSerializer,
        responses={
            200: UserSerializer,
            400: OpenApiResponse(DetailSerializer, description="A code is wrong, expired or used; no link pending"),
            401: OpenApiResponse(DetailSerializer, description="Not signed in"),
            429: OpenApiResponse(DetailSerializer, description="Too many attempts"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TelegramLinkConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = telegram_link.link_confirm(request.user, client=client_of(request), **serializer.validated_data)
        except contact_change.WrongCodes as problem:
            raise ValidationError(error(str(problem))) from None
        return Response(UserSerializer(user, context={"request": request}).data)


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
        flow = self.flow
        try:
            channel = contact_change.change_start(
                flow, request.user, identifier, serializer.validated_data.get("channel"), client=client_of(request)
            )
        except contact_change.ChangeRefused as problem:
            raise ValidationError(error(str(problem))) from None
        except DeliveryFailed:
            raise ProviderUnavailable(
                f"A code could not be sent (to the new {flow.noun} or to your account); nothing is pending. "
                "Try again later."
            ) from None
        minutes = settings.ACCOUNTS["OTP_EXPIRY_MINUTES"]
        return Response(
            {
                "detail": f"Codes sent to {identifier.value} and to your {channel}. Confirm both within "
                f"{minutes} minutes at {flow.path}confirm/.",
                "account_channel": channel,
                "expires_in_minutes": minutes,
            }
        )


class ContactChangeConfirmView(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (VerifyIpThrottle, ContactConfirmThrottle)
    flow: contact_change.Flow

    def confirm(self, request: Request) -> Response:
        serializer = ChangeConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = contact_change.change_confirm(
                self.flow, request.user, client=client_of(request), **serializer.validated_data
            )
        except (contact_change.ChangeRefused, contact_change.WrongCodes) as problem:
            raise ValidationError(error(str(problem))) from None
        return Response(UserSerializer(user, context={"request": request}).data)


def change_start_schema(noun: str, request: type[EmailChangeSerializer | PhoneChangeSerializer]) -> Any:
    return extend_schema(
        tags=["accounts"],
        summary=f"Start changing the {noun}",
        description=f"Sends one code to the new {noun} and one to the account's existing channel (email, else "
        "phone, else the linked Telegram chat). Nothing changes until both are confirmed at the confirm/ endpoint "
        "below this one.",
        request=request,
        responses={
            200: ChangeStartedSerializer,
            400: OpenApiResponse(
                DetailSerializer,
                description=f"Bad {noun}, the current one, or its channel not configured (one used by another "
                "account is refused at confirmation, not here)",
            ),
            401: OpenApiResponse(DetailSerializer, description="Not signed in"),
            429: OpenApiResponse(DetailSerializer, description="Too many change requests"),
            503: OpenApiResponse(DetailSerializer, description="A provider failed; no change is pending"),
        },
    )


def change_confirm_schema(noun: str) -> Any:
    return extend_schema(
        tags=["accounts"],
        summary=f"Confirm a {noun} change with both codes",
        description=f"Then the old {noun} is told, and sign-in codes sent to it stop working.",
        request=ChangeConfirmSerializer,
        responses={
            200: UserSerializer,
            400: OpenApiResponse(
                DetailSerializer,
                description=f"A code is wrong, expired or used; no change pending; the {noun} was taken meanwhile",
            ),
            401: OpenApiResponse(DetailSerializer, description="Not signed in"),
            429: OpenApiResponse(DetailSerializer, description="Too many attempts"),
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
