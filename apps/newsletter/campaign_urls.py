"""The campaigns' routes: the staff API under api/newsletter/campaigns/, and the tracking links of campaign mails
under newsletter/ (the app is mounted at the site's root)."""

from django.urls import URLPattern, URLResolver, path

from apps.newsletter import campaign_views
from apps.newsletter.api import campaigns as api

CAMPAIGN = "api/newsletter/campaigns/<int:campaign_id>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/newsletter/campaigns/", api.CampaignListView.as_view(), name="campaigns"),
    path(CAMPAIGN, api.CampaignDetailView.as_view(), name="campaign"),
    path(f"{CAMPAIGN}preview/", api.CampaignPreviewView.as_view(), name="campaign-preview"),
    path(f"{CAMPAIGN}test/", api.CampaignTestSendView.as_view(), name="campaign-test"),
    path(f"{CAMPAIGN}schedule/", api.CampaignScheduleView.as_view(), name="campaign-schedule"),
    path(f"{CAMPAIGN}unschedule/", api.CampaignUnscheduleView.as_view(), name="campaign-unschedule"),
    path(f"{CAMPAIGN}send/", api.CampaignSendView.as_view(), name="campaign-send"),
    path(f"{CAMPAIGN}pause/", api.CampaignPauseView.as_view(), name="campaign-pause"),
    path(f"{CAMPAIGN}resume/", api.CampaignResumeView.as_view(), name="campaign-resume"),
    path(f"{CAMPAIGN}cancel/", api.CampaignCancelView.as_view(), name="campaign-cancel"),
    path("newsletter/c/<str:token>/", campaign_views.click, name="campaign-click"),
    path("newsletter/o/<str:token>.gif", campaign_views.open_pixel, name="campaign-open"),
]
