"""Invoicing console pages (under /documents/); the API routes are in ``invoicing.api_urls``."""

from django.urls import path

from invoicing import views

urlpatterns = [
    path("<int:document_id>/", views.document_detail, name="document-detail"),
    path("<int:document_id>/pdf/", views.document_pdf, name="document-pdf"),
    path("sheets/<int:sheet_id>/", views.sheet_detail, name="sheet-detail"),
    path("sheets/<int:sheet_id>/pdf/", views.sheet_pdf, name="sheet-pdf"),
    path("sheets/<int:sheet_id>/resend/", views.sheet_resend, name="sheet-resend"),
]
