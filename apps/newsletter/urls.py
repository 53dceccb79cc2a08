"""Mounted at the site's root: the API under api/newsletter/, the subscribers' pages and the tracking links under
newsletter/."""

from apps.newsletter.audience_urls import urlpatterns as audience_urlpatterns
from apps.newsletter.campaign_urls import urlpatterns as campaign_urlpatterns

app_name = "newsletter"

urlpatterns = [*audience_urlpatterns, *campaign_urlpatterns]
