"""Reports console pages (under /reports/); the API routes (the report templates) are in ``reports.api_urls``."""

from django.urls import URLPattern, URLResolver, path, register_converter

from reports import schedule_views, views


class ExportFormatConverter:
    regex = "csv|xlsx"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ExportFormatConverter, "report_fmt")

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="report-dashboard"),
    path("documents/", views.document_list, name="report-documents"),
    path("documents/export.<report_fmt:fmt>", views.document_export, name="report-documents-export"),
    path("uploads/", views.upload_list, name="report-uploads"),
    path("uploads/export.<report_fmt:fmt>", views.upload_export, name="report-uploads-export"),
    path("tickets/", views.ticket_list, name="report-tickets"),
    path("tickets/export.<report_fmt:fmt>", views.ticket_export, name="report-tickets-export"),
    path("searches/", views.search_list, name="report-searches"),
    path("searches/export.<report_fmt:fmt>", views.search_export, name="report-searches-export"),
    path("report.pdf", views.report_pdf, name="report-pdf"),
    path("exports/", views.export_list, name="report-exports"),
    path("exports/<int:job_id>/", views.export_job, name="report-export-job"),
    path("exports/<int:job_id>/download/", views.export_download, name="report-export-download"),
    path("templates/", views.template_gallery, name="report-templates"),
    path("templates/<slug:slug>/", views.template_page, name="report-template"),
    path("templates/<slug:slug>/report.pdf", views.template_pdf, name="report-template-pdf"),
    path("templates/<slug:slug>/export.xlsx", views.template_xlsx, name="report-template-xlsx"),
    path("templates/<slug:slug>/views/", schedule_views.view_save, name="report-view-save"),
    path("views/<int:view_id>/delete/", schedule_views.view_delete, name="report-view-delete"),
    path("schedules/", schedule_views.schedule_list, name="report-schedules"),
    path("schedules/<int:report_id>/edit/", schedule_views.schedule_edit, name="report-schedule-edit"),
    path("schedules/<int:report_id>/pause/", schedule_views.schedule_pause, name="report-schedule-pause"),
    path("schedules/<int:report_id>/preview.pdf", schedule_views.schedule_preview, name="report-schedule-preview"),
    path("schedules/<int:report_id>/test/", schedule_views.schedule_test, name="report-schedule-test"),
    path("schedules/deliveries/<int:delivery_id>.pdf", schedule_views.delivery_pdf, name="report-delivery-pdf"),
]
