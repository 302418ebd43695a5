"""Console-wide pages: the role home page and the health check."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from piaogen.access import ALL_ROLES, role_required
from piaogen.models import User


@require_GET
@role_required(*ALL_ROLES)
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on its own home page."""
    user = request.user
    assert isinstance(user, User)
    return render(request, f"piaogen/home_{user.role}.html")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database responds. Public, reveals nothing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


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
