from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TollingConfig(AppConfig):
    name = "tolling"
    verbose_name = _("通行数据")

    def ready(self) -> None:
        from piaogen import jobs
        from tolling.jobs import UPLOADS

        jobs.register(UPLOADS)
