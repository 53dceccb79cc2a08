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


STAFF_ONLY = {401: "Not signed in", 403: "Not staff"}


class TaskRunListView(generics.ListAPIView[TaskRun]):
    """Task runs, the last enqueued first, paginated; filtered by status, queue or task when asked."""

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

    @extend_schema(
        parameters=[RunFilterSerializer],
        responses={
            200: TaskRunListSerializer(many=True),
            **error_responses(
                {400: "Bad filter: an unknown status, or a task or queue name that cannot be", **STAFF_ONLY}
            ),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class TaskRunDetailView(generics.RetrieveAPIView[TaskRun]):
    """One run in full: its arguments, attempts, workers, return value, errors and traceback."""

    permission_classes = [IsAdminUser]
    serializer_class = TaskRunSerializer
    queryset = TaskRun.objects.all()

    @extend_schema(responses={200: TaskRunSerializer, **error_responses({**STAFF_ONLY, 404: "No such run"})})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


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
                    **STAFF_ONLY,
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


class MinuteSerializer(serializers.Serializer[dict[str, Any]]):
    minute = serializers.DateTimeField()
    successful = serializers.IntegerField()
    failed = serializers.IntegerField()


class LastHourSerializer(serializers.Serializer[dict[str, Any]]):
    successful = serializers.IntegerField()
    failed = serializers.IntegerField()
    per_minute = MinuteSerializer(many=True, help_text="The last 60 minutes, oldest first, empty minutes included")


class TaskStatsSerializer(serializers.Serializer[dict[str, Any]]):
    by_status = serializers.DictField(child=serializers.IntegerField(), help_text="Runs per status, every status")
    total = serializers.IntegerField()
    running = serializers.IntegerField()
    failed_last_24h = serializers.IntegerField()
    last_hour = LastHourSerializer(help_text="Runs that finished in the last hour")


class TaskStatsView(APIView):
    """The figures of the tasks dashboard: runs per status, failures in the last 24 hours, and the runs that
    finished in the last hour, minute by minute."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: TaskStatsSerializer, **error_responses(STAFF_ONLY)})
    def get(self, request: Request) -> Response:
        return Response(selectors.stats())
