"""Reports API routes (under /api/v1/): the report templates."""

from django.urls import URLPattern, URLResolver, path

from reports import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("reports/", api.ReportTemplateList.as_view(), name="api-report-list"),
    path("reports/<slug:slug>/", api.ReportTemplateDetail.as_view(), name="api-report-detail"),
]
