"""The audience API: the public lists, subscribe (anonymous), and the signed-in user's own subscriptions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.newsletter import tasks
from apps.newsletter.exceptions import NotSubscribed
from apps.newsletter.models import MailingList, Subscriber
from apps.newsletter.selectors.audience import public_lists, subscriber_of_user, subscriptions_of
from apps.newsletter.services import audience as services
from apps.newsletter.throttles import SubscribeThrottle
from apps.newsletter.views.common import consent_from, data_download
from modules.api.errors import JSONParser
from modules.api.schema import error_responses

# An address, a name, a few list names and the consent wording: a few kilobytes. More is refused unread.
SUBSCRIBE_BODY_BYTES = 16 * 1024
MAX_LISTS = 20
SUBSCRIBED = (
    "Thank you. If this address can receive our mail, it is subscribed; lists that ask for confirmation send a "
    "link to it first."
)
NOT_SIGNED_IN = {401: "Not signed in"}


class MailingListSerializer(serializers.ModelSerializer[MailingList]):
    class Meta:
        model = MailingList
        fields = ("slug", "name", "description", "double_opt_in")
        read_only_fields = fields


class ListSlugsField(serializers.ListField):
    """Slugs of public lists, resolved to the lists; the length is checked before the items are."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.SlugField(max_length=100), max_length=MAX_LISTS, **kwargs)

    def to_internal_value(self, data: Any) -> list[MailingList]:
        if isinstance(data, list) and len(data) > MAX_LISTS:
            self.fail("max_length", max_length=MAX_LISTS)
        slugs = list(dict.fromkeys(super().to_internal_value(data)))
        found = {mailing_list.slug: mailing_list for mailing_list in public_lists().filter(slug__in=slugs)}
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            raise serializers.ValidationError(
                f"No public list named {', '.join(unknown)}: GET /api/newsletter/lists/ lists them."
            )
        return [found[slug] for slug in slugs]


class SubscribeSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    lists = ListSlugsField(min_length=1, help_text=f"Slugs of public lists (at most {MAX_LISTS})")
    consent_text = serializers.CharField(
        max_length=2000, help_text="The consent wording the subscriber was shown (kept with the consent record)"
    )
    consent_source = serializers.CharField(
        max_length=200, required=False, default="api", help_text="Where the form is, e.g. 'blog footer'"
    )
    website = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="Leave empty (a trap for bots)"
    )


class SubscribeAnswerSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()


class SubscriptionSerializer(serializers.Serializer[Any]):
    list = serializers.CharField(source="mailing_list.slug")
    list_name = serializers.CharField(source="mailing_list.name")
    status = serializers.CharField(help_text="pending (waiting for the confirmation link), confirmed, unsubscribed")
    confirmed_at = serializers.DateTimeField(allow_null=True)
    unsubscribed_at = serializers.DateTimeField(allow_null=True)


class MeSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    name = serializers.CharField()
    subscriptions = SubscriptionSerializer(many=True)


class MeUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    lists = ListSlugsField(
        required=False, help_text="The public lists to be on; public lists left out are unsubscribed"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        others = sorted(set(self.initial_data) - {"name", "lists"})
        if others:
            raise serializers.ValidationError(
                f"These fields cannot be changed: {', '.join(others)}. Changeable: name, lists."
            )
        return attrs


class MailingListListView(generics.ListAPIView[MailingList]):
    """The public lists: what a subscribe form may offer."""

    permission_classes = (AllowAny,)
    serializer_class = MailingListSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[MailingList]:
        return public_lists()

    @extend_schema(
        tags=["newsletter"],
        summary="The public mailing lists",
        responses={200: MailingListSerializer(many=True), **error_responses({429: "Too many requests"})},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class SubscribeView(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = (SubscribeThrottle,)
    parser_classes = (JSONParser,)
    max_body_bytes = SUBSCRIBE_BODY_BYTES

    @extend_schema(
        tags=["newsletter"],
        summary="Subscribe an address to public lists",
        description=(
            "Answers the same whether the address was new, already subscribed, or suppressed. Lists with double "
            "opt-in stay pending until the link mailed to the address is followed."
        ),
        request=SubscribeSerializer,
        responses={
            202: SubscribeAnswerSerializer,
            **error_responses({400: "Invalid input", 429: "Too many subscriptions"}),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = SubscribeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not data["website"]:
            tasks.subscribe_later(
                email=data["email"],
                name=data["name"],
                mailing_lists=data["lists"],
                consent=consent_from(request._request, source=data["consent_source"], form_text=data["consent_text"]),
                user=request.user if request.user.is_authenticated else None,
            )
        return Response({"detail": SUBSCRIBED}, status=status.HTTP_202_ACCEPTED)


def my_subscriber(request: Request) -> Subscriber:
    subscriber = subscriber_of_user(user=request.user)  # type: ignore[arg-type]  # IsAuthenticated has run
    if subscriber is None:
        raise NotSubscribed()
    return subscriber


def me_body(subscriber: Subscriber) -> dict[str, Any]:
    return MeSerializer(
        {"email": subscriber.email, "name": subscriber.name, "subscriptions": subscriptions_of(subscriber=subscriber)}
    ).data


class MeView(APIView):
    """The signed-in user's subscriber: the one linked to the account, else the one with the account's email."""

    permission_classes = (IsAuthenticated,)
    parser_classes = (JSONParser,)
    max_body_bytes = SUBSCRIBE_BODY_BYTES

    @extend_schema(
        tags=["newsletter"],
        summary="My subscriptions",
        responses={200: MeSerializer, **error_responses({**NOT_SIGNED_IN, 404: "No subscriber for this account"})},
    )
    def get(self, request: Request) -> Response:
        return Response(me_body(my_subscriber(request)))

    @extend_schema(
        tags=["newsletter"],
        summary="Change my name or my public lists",
        request=MeUpdateSerializer,
        responses={
            200: MeSerializer,
            **error_responses({400: "Invalid input", **NOT_SIGNED_IN, 404: "No subscriber for this account"}),
        },
    )
    def patch(self, request: Request) -> Response:
        subscriber = my_subscriber(request)
        serializer = MeUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.preferences_update(
            subscriber=subscriber,
            consent=consent_from(request._request, source="api (signed in)"),
            mailing_lists=serializer.validated_data.get("lists"),
            name=serializer.validated_data.get("name"),
        )
        return Response(me_body(subscriber))

    @extend_schema(
        tags=["newsletter"],
        summary="Delete my newsletter data",
        description="Deletes the subscriber, its subscriptions and consent records; the address stays suppressed.",
        responses={204: None, **error_responses({**NOT_SIGNED_IN, 404: "No subscriber for this account"})},
    )
    def delete(self, request: Request) -> Response:
        services.subscriber_delete(subscriber=my_subscriber(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeExportView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=["newsletter"],
        summary="Download my newsletter data",
        description="Everything kept about the signed-in user's subscriber (its subscriptions, consent records and "
        "whether the address is suppressed) as a JSON file to keep.",
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
            **error_responses({**NOT_SIGNED_IN, 404: "No subscriber for this account"}),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        return data_download(my_subscriber(request))
