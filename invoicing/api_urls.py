"""Invoicing API routes (under /api/v1/): documents and summary sheets to read, and the command endpoints."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from invoicing import api

router = SimpleRouter()
router.register("documents", api.DocumentViewSet, basename="api-document")
router.register("summary-sheets", api.SummarySheetViewSet, basename="api-summary-sheet")

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("invoice-requests/", api.InvoiceRequestView.as_view(), name="api-invoice-request"),
    path("prepaid-choices/", api.PrepaidChoiceView.as_view(), name="api-prepaid-choice"),
    path("documents/<int:pk>/reverse/", api.DocumentReverseView.as_view(), name="api-document-reverse"),
    path("documents/<int:pk>/reissue/", api.DocumentReissueView.as_view(), name="api-document-reissue"),
    path("documents/<int:pk>/deliveries/", api.DocumentDeliveryView.as_view(), name="api-document-deliveries"),
]
