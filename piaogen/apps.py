from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PiaogenConfig(AppConfig):
    name = "piaogen"
    verbose_name = _("平台")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import piaogen.requestid  # noqa: F401  (connects the Celery signals that carry the request id)
        from piaogen.roles import sync_role_groups

        post_migrate.connect(sync_role_groups, sender=self)
