from django.urls import path, register_converter

from tolling import views


class FormatConverter:
    regex = "csv|xlsx"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(FormatConverter, "fmt")

urlpatterns = [
    path("", views.upload_list, name="upload-list"),
    path("new/", views.upload_create_view, name="upload-create"),
    path("templates/<slug:kind>.<fmt:fmt>", views.upload_template, name="upload-template"),
    path("<int:batch_id>/", views.upload_detail, name="upload-detail"),
    path("<int:batch_id>/progress/", views.upload_progress, name="upload-progress"),
    path("<int:batch_id>/cancel/", views.upload_cancel_view, name="upload-cancel"),
    path("<int:batch_id>/original/", views.upload_original, name="upload-original"),
    path("<int:batch_id>/errors.<fmt:fmt>", views.upload_errors, name="upload-errors"),
]
