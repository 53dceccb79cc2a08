from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("", include("modules.health.urls")),
    path("admin/", admin.site.urls),
]

if "accounts" in settings.ENABLED_APPS:
    urlpatterns += [path("api/", include("apps.accounts.urls"))]

if settings.DEBUG:  # uploaded files (avatars) in development; in production Caddy serves them (docker/Caddyfile)
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

if "tasks" in settings.ENABLED_APPS:
    urlpatterns += [path("api/tasks/", include("apps.tasks.urls"))]

if settings.API_DOCS_ENABLED:
    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
        path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    ]
