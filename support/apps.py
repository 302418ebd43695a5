from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = pgettext_lazy("app", "客服")
