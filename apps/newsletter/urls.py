"""Mounted at the site's root: the API under api/newsletter/ (the campaigns' staff API under
api/newsletter/campaigns/), and under newsletter/ the subscribers' pages, the provider webhooks and the tracking links
of campaign mails."""

from django.urls import URLPattern, URLResolver, path

from apps.newsletter import webhooks
from apps.newsletter.api import audience, campaigns
from apps.newsletter.views import mailed_links, subscribe, tracking_links

app_name = "newsletter"

CAMPAIGN = "api/newsletter/campaigns/<int:campaign_id>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/newsletter/lists/", audience.MailingListListView.as_view(), name="lists"),
    path("api/newsletter/subscribe/", audience.SubscribeView.as_view(), name="subscribe"),
    path("api/newsletter/me/", audience.MeView.as_view(), name="me"),
    path("api/newsletter/me/export/", audience.MeExportView.as_view(), name="me-export"),
    path("api/newsletter/campaigns/", campaigns.CampaignListView.as_view(), name="campaigns"),
    path(CAMPAIGN, campaigns.CampaignDetailView.as_view(), name="campaign"),
    path(f"{CAMPAIGN}preview/", campaigns.CampaignPreviewView.as_view(), name="campaign-preview"),
    path(f"{CAMPAIGN}test/", campaigns.CampaignTestSendView.as_view(), name="campaign-test"),
    path(f"{CAMPAIGN}schedule/", campaigns.CampaignScheduleView.as_view(), name="campaign-schedule"),
    path(f"{CAMPAIGN}unschedule/", campaigns.CampaignUnscheduleView.as_view(), name="campaign-unschedule"),
    path(f"{CAMPAIGN}send/", campaigns.CampaignSendView.as_view(), name="campaign-send"),
    path(f"{CAMPAIGN}pause/", campaigns.CampaignPauseView.as_view(), name="campaign-pause"),
    path(f"{CAMPAIGN}resume/", campaigns.CampaignResumeView.as_view(), name="campaign-resume"),
    path(f"{CAMPAIGN}cancel/", campaigns.CampaignCancelView.as_view(), name="campaign-cancel"),
    path("newsletter/subscribe/", subscribe.SubscribePage.as_view(), name="subscribe-page"),
    path("newsletter/confirm/<str:token>/", mailed_links.ConfirmView.as_view(), name="confirm"),
    path("newsletter/unsubscribe/<str:token>/", mailed_links.UnsubscribeView.as_view(), name="unsubscribe"),
    path("newsletter/preferences/<str:token>/", mailed_links.PreferencesView.as_view(), name="preferences"),
    path(
        "newsletter/preferences/<str:token>/export/",
        mailed_links.PreferencesExportView.as_view(),
        name="preferences-export",
    ),
    path("newsletter/c/<str:token>/", tracking_links.click, name="campaign-click"),
    path("newsletter/o/<str:token>.gif", tracking_links.open_pixel, name="campaign-open"),
    *webhooks.urlpatterns(),
]
