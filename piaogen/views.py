"""Console-wide pages: the role home page, the health and readiness probes, and the maintainers' job monitor (over
the job kinds the apps register, piaogen/jobs.py)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.defaults import page_not_found
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from piaogen import home as homes
from piaogen import jobs as job_kinds
from piaogen import ops
from piaogen.access import ALL_ROLES, role_required
from piaogen.callbacks import api_token_callback_set
from piaogen.models import ApiToken, CallbackDelivery, Role, User

JOB_ROWS = 50


@require_GET
@role_required(*ALL_ROLES)
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on its own home page."""
    user = request.user
    assert isinstance(user, User)
    return render(request, f"piaogen/home_{user.role}.html", homes.home_context(request, user))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 404 page; under ``/api/`` the API's error body instead (a URL no route matches, such as a negative id)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": _("未找到。")}, status=404)
    return page_not_found(request, exception or Http404())


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database responds. Public, reveals nothing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, Redis and a live Celery worker (heartbeat within three minutes). 503 with the
    failing checks otherwise. Public like `healthz`: it names parts, never data."""
    state = ops.readiness()
    return JsonResponse(state.as_dict(), status=200 if state.ok else 503)


@require_GET
@role_required(Role.MAINTAINER)
def jobs(request: HttpRequest) -> HttpResponse:
    """The job monitor: queue depths, the worker heartbeat, and, per registered job kind (uploads, issuing runs,
    report exports…), the jobs queued, running or failed, newest first, with a retry for failed ones."""
    sections: list[dict[str, object]] = []
    context: dict[str, object] = {
        "readiness": ops.readiness(),
        "queues": ops.queue_depths(),
        "heartbeat": ops.worker_heartbeat(),
        "sections": sections,
    }
    for kind in job_kinds.kinds():
        rows = kind.open_jobs(JOB_ROWS)
        # a running job whose heartbeat is older than stale_before is taken over or queued again by the sweep
        sections.append({"kind": kind, "jobs": rows, "stale_before": kind.stale_before()})
        context[kind.name] = rows
    return render(request, "piaogen/jobs.html", context)


@require_POST
@role_required(Role.MAINTAINER)
def job_retry(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Queue a failed job of ``kind`` again (the kind's audited retry); a job that is not failed is left alone."""
    user = request.user
    assert isinstance(user, User)
    job_kind = job_kinds.kind(kind)
    job = get_object_or_404(job_kind.model, pk=pk)
    was = job.status  # type: ignore[attr-defined]
    job = job_kind.retry(job=job, user=user, request=request)
    if was == job_kinds.FAILED and job.status == job_kinds.QUEUED:  # type: ignore[attr-defined]
        messages.success(request, str(job_kind.requeued_message) % {"id": job.pk})
    else:
        messages.info(request, str(job_kind.not_failed_message) % {"id": job.pk})
    return redirect("jobs")


@extend_schema(
    responses=inline_serializer(
        "Me",
        fields={
            "username": serializers.CharField(),
            "role": serializers.CharField(),
            "province": serializers.CharField(allow_null=True),
        },
    )
)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Who the caller is: username, role and province scope."""
    user = request.user
    assert isinstance(user, User)
    return Response({"username": user.get_username(), "role": user.role, "province": user.province or None})


class CallbackDeliverySerializer(serializers.ModelSerializer[CallbackDelivery]):
    class Meta:
        model = CallbackDelivery
        fields = ["id", "event", "object_id", "status", "attempts", "response_status", "last_error", "created_at"]
        read_only_fields = fields


class CallbackSerializer(serializers.Serializer[ApiToken]):
    url = serializers.URLField(source="callback_url", allow_blank=True, max_length=500, help_text="empty: none")
    secret = serializers.CharField(source="callback_secret", read_only=True, help_text="HMAC-SHA256 key")
    deliveries = serializers.SerializerMethodField(help_text="the last 20 notifications, newest first")

    @extend_schema_field(CallbackDeliverySerializer(many=True))
    def get_deliveries(self, token: ApiToken) -> list[dict[str, object]]:
        recent = token.callbacks.order_by("-pk")[:20]  # callback_token_event_object_uniq leads with the token
        return list(CallbackDeliverySerializer(recent, many=True).data)


@extend_schema(methods=["GET"], responses=CallbackSerializer)
@extend_schema(methods=["PUT"], request=CallbackSerializer, responses=CallbackSerializer)
@api_view(["GET", "PUT"])
def callback(request: Request) -> Response:
    """The calling API token's callback URL (notified when a batch it uploaded ends), its signing secret and its
    delivery log. API tokens only."""
    token = request.auth
    if not isinstance(token, ApiToken):
        raise PermissionDenied(_("回调地址属于 API 令牌：请用令牌调用。"))
    if request.method == "PUT":
        form = CallbackSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            token = api_token_callback_set(token=token, url=form.validated_data["callback_url"])
        except ValidationError as refused:
            raise serializers.ValidationError({"url": refused.messages}, code="callback_url_refused") from refused
    return Response(CallbackSerializer(token).data)
