from django.urls import path

from apps.tasks import api

app_name = "tasks"

urlpatterns = [
    path("runs/", api.TaskRunListView.as_view(), name="run-list"),
    path("runs/<str:pk>/", api.TaskRunDetailView.as_view(), name="run-detail"),
    path("runs/<str:pk>/retry/", api.TaskRunRetryView.as_view(), name="run-retry"),
    path("stats/", api.TaskStatsView.as_view(), name="stats"),
]
