"""The audience's routes: the API under api/newsletter/, the subscribers' pages and the provider webhooks under
newsletter/ (the app is mounted at the site's root)."""

from django.urls import URLPattern, URLResolver, path

from apps.newsletter import webhooks
from apps.newsletter.api import audience as api
from apps.newsletter.views import links, subscribe

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/newsletter/lists/", api.MailingListListView.as_view(), name="lists"),
    path("api/newsletter/subscribe/", api.SubscribeView.as_view(), name="subscribe"),
    path("api/newsletter/me/", api.MeView.as_view(), name="me"),
    path("api/newsletter/me/export/", api.MeExportView.as_view(), name="me-export"),
    path("newsletter/subscribe/", subscribe.SubscribePage.as_view(), name="subscribe-page"),
    path("newsletter/confirm/<str:token>/", links.ConfirmView.as_view(), name="confirm"),
    path("newsletter/unsubscribe/<str:token>/", links.UnsubscribeView.as_view(), name="unsubscribe"),
    path("newsletter/preferences/<str:token>/", links.PreferencesView.as_view(), name="preferences"),
    path(
        "newsletter/preferences/<str:token>/export/", links.PreferencesExportView.as_view(), name="preferences-export"
    ),
    *webhooks.urlpatterns(),
]
