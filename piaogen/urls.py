from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from invoicing import urls as invoicing_urls
from invoicing.api import DocumentViewSet, SummarySheetViewSet
from piaogen import views
from reports import urls as reports_urls
from support import urls as support_urls
from tolling.api import ContractTemplateView, ContractView, UploadBatchViewSet

handler404 = "piaogen.views.not_found"  # JSON under /api/, the console's page elsewhere

admin.site.site_header = _("票根运营工作台 · 运维管理")
admin.site.site_title = _("票根运营工作台")

router = SimpleRouter()
router.register("uploads", UploadBatchViewSet, basename="api-upload")
router.register("documents", DocumentViewSet, basename="api-document")
router.register("summary-sheets", SummarySheetViewSet, basename="api-summary-sheet")

api_v1 = [
    path("me/", views.me, name="api-me"),
    path("callback/", views.callback, name="api-callback"),
    path("contract/", ContractView.as_view(), name="api-contract"),
    path("contract/<str:kind>/template/", ContractTemplateView.as_view(), name="api-contract-template"),
    *router.urls,
    *invoicing_urls.api_urlpatterns,
    *support_urls.api_urlpatterns,
    *reports_urls.api_urlpatterns,
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("ops/jobs/", views.jobs, name="jobs"),
    path("ops/jobs/uploads/<int:batch_id>/retry/", views.job_upload_retry, name="job-upload-retry"),
    path("ops/jobs/runs/<int:run_id>/retry/", views.job_run_retry, name="job-run-retry"),
    path("ops/jobs/exports/<int:job_id>/retry/", views.job_export_retry, name="job-export-retry"),
    path("uploads/", include("tolling.urls")),
    path("documents/", include(invoicing_urls.urlpatterns)),
    path("", include(support_urls.urlpatterns)),
    path("reports/", include(reports_urls.urlpatterns)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
