from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("报表")

    def ready(self) -> None:
        from piaogen import jobs
        from reports.jobs import EXPORT_JOBS

        jobs.register(EXPORT_JOBS)
