"""Staff-only API: runs (list, detail, retry) and the stats of the dashboard."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.tasks import TaskResultStatus
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tasks import selectors, services
from apps.tasks.models import TaskRun
from modules.api.schema import error_responses

LIST_FIELDS = (
    "id",
    "task_path",
    "task_name",
    "queue",
    "status",
    "attempts",
    "enqueued_at",
    "started_at",
    "finished_at",
    "duration",
    "worker",
    "error_class",
)


class TaskRunListSerializer(serializers.ModelSerializer[TaskRun]):
    task_name = serializers.CharField(read_only=True)

    class Meta:
        model = TaskRun
        fields = LIST_FIELDS


class TaskRunSerializer(serializers.ModelSerializer[TaskRun]):
    task_name = serializers.CharField(read_only=True)

    class Meta:
        model = TaskRun
        fields = (
            *LIST_FIELDS,
            "args",
            "kwargs",
            "backend",
            "priority",
            "run_after",
            "last_attempted_at",
            "worker_ids",
            "return_value",
            "errors",
            "traceback",
            "retried_from",
        )


class RunFilterSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=TaskResultStatus.choices, required=False)
    task = serializers.CharField(required=False, max_length=255, help_text="Task path, or its last part")
    queue = serializers.RegexField(r"^[A-Za-z0-9_.-]+$", required=False, max_length=100)


class TaskRunListView(generics.ListAPIView[TaskRun]):
    permission_classes = [IsAdminUser]
    serializer_class = TaskRunListSerializer

    def get_queryset(self) -> QuerySet[TaskRun]:
        filters = RunFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        runs = TaskRun.objects.all()
        values = filters.validated_data
        if "status" in values:
            runs = runs.filter(status=values["status"])
        if "queue" in values:
            runs = runs.filter(queue=values["queue"])
        if "task" in values:
            task = values["task"]
            runs = runs.filter(task_path=task) if "." in task else runs.filter(task_path__endswith=f".{task}")
        return runs

    @extend_schema(parameters=[RunFilterSerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class TaskRunDetailView(generics.RetrieveAPIView[TaskRun]):
    permission_classes = [IsAdminUser]
    serializer_class = TaskRunSerializer
    queryset = TaskRun.objects.all()


class RetriedSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    status = serializers.CharField()
    retried_from = serializers.CharField()


class TaskRunRetryView(APIView):
    """Enqueue a finished run again. 409 when it has not finished; 503 when the queue is unreachable."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        request=None,
        responses={
            202: RetriedSerializer,
            **error_responses(
                {
                    401: "Not signed in",
                    403: "Not staff",
                    404: "No such run",
                    409: "The run has not finished, or its task cannot be loaded",
                    503: "The task queue is unreachable; nothing was queued",
                }
            ),
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        run = get_object_or_404(TaskRun, pk=pk)
        result = services.run_retry(run)
        body = {"id": result.id, "status": result.status, "retried_from": run.pk}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class TaskStatsView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(selectors.stats())
