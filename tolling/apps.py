from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TollingConfig(AppConfig):
    name = "tolling"
    verbose_name = _("通行数据")
