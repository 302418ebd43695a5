from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from piaogen import jobs, views

handler404 = "piaogen.views.not_found"  # JSON under /api/, the console's page elsewhere

admin.site.site_header = _("票根运营工作台 · 运维管理")
admin.site.site_title = _("票根运营工作台")

APPS = ("tolling", "invoicing", "support", "reports")
"""Each app owns its URLs: ``<app>.urls`` (console pages, under the prefix the app chooses) and ``<app>.api_urls``
(its routes under /api/v1/). The root names them by module path only: the base package imports no app."""

api_v1: list[URLPattern | URLResolver] = [
    path("me/", views.me, name="api-me"),
    path("callback/", views.callback, name="api-callback"),
    *[path("", include(f"{app}.api_urls")) for app in APPS],
]

job_retries = [
    # one retry per registered job kind (piaogen/jobs.py), e.g. ops/jobs/uploads/<pk>/retry/ named job-upload-retry
    path(f"ops/jobs/{kind.name}/<int:pk>/retry/", views.job_retry, {"kind": kind.name}, name=kind.retry_url_name)
    for kind in jobs.kinds()
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("ops/jobs/", views.jobs, name="jobs"),
    *job_retries,
    path("uploads/", include("tolling.urls")),
    path("documents/", include("invoicing.urls")),
    path("", include("support.urls")),
    path("reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
