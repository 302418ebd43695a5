"""Invoicing URLs: the API's command endpoints (under /api/v1/, next to the router's read endpoints) and the
console pages."""

from django.urls import path

from invoicing import api, views

api_urlpatterns = [
    path("invoice-requests/", api.InvoiceRequestView.as_view(), name="api-invoice-request"),
    path("prepaid-choices/", api.PrepaidChoiceView.as_view(), name="api-prepaid-choice"),
    path("documents/<int:pk>/reverse/", api.DocumentReverseView.as_view(), name="api-document-reverse"),
    path("documents/<int:pk>/reissue/", api.DocumentReissueView.as_view(), name="api-document-reissue"),
    path("documents/<int:pk>/deliveries/", api.DocumentDeliveryView.as_view(), name="api-document-deliveries"),
]

urlpatterns = [
    path("<int:document_id>/", views.document_detail, name="document-detail"),
    path("<int:document_id>/pdf/", views.document_pdf, name="document-pdf"),
    path("sheets/<int:sheet_id>/", views.sheet_detail, name="sheet-detail"),
    path("sheets/<int:sheet_id>/pdf/", views.sheet_pdf, name="sheet-pdf"),
    path("sheets/<int:sheet_id>/resend/", views.sheet_resend, name="sheet-resend"),
]
