from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from cfg.urls import mounted_urlpatterns
from modules.pages.docs import redoc_standalone

# The enabled apps and modules mount themselves (cfg.catalog and project_apps in config/config.py).
urlpatterns = [path("admin/", admin.site.urls), *mounted_urlpatterns()]

if settings.DEBUG:  # uploaded files (avatars) in development; in production Caddy serves them (docker/Caddyfile)
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

if settings.API_DOCS_ENABLED:
    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
        # The split view serves its start-up script from a URL: no inline script, so the CSP needs none.
        path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
        # Our template and bundle: drf-spectacular's template links Google Fonts and Redoc loads its logo from a CDN.
        path(
            "api/redoc/",
            SpectacularRedocView.as_view(url_name="api-schema", template_name="pages/redoc.html"),
            name="api-redoc",
        ),
        path("api/redoc/redoc.standalone.js", redoc_standalone, name="api-redoc-js"),
    ]

# An /api/ URL that matches nothing (an id that is not a number, a path that does not exist) answers the API's JSON.
handler404 = "modules.api.not_found.not_found"
