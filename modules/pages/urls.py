from django.urls import path

from modules.pages import views

urlpatterns = [
    path("", views.home, name="home"),
    # Only the empty path under api/: the accounts app, mounted at api/ too, has none.
    path("api/", views.api_root, name="api-root"),
    path("favicon.ico", views.favicon, name="favicon"),
]
