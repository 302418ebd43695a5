"""Tolling API routes (under /api/v1/): the upload contract and upload batches."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from tolling.api import ContractTemplateView, ContractView, UploadBatchViewSet

router = SimpleRouter()
router.register("uploads", UploadBatchViewSet, basename="api-upload")

urlpatterns: list[URLPattern | URLResolver] = [
    path("contract/", ContractView.as_view(), name="api-contract"),
    path("contract/<str:kind>/template/", ContractTemplateView.as_view(), name="api-contract-template"),
    *router.urls,
]
