from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = pgettext_lazy("app", "客服")

    def ready(self) -> None:
        from invoicing.issuing.lifecycle import REVERSED
        from piaogen import home
        from piaogen.models import Role
        from support.stats_rollup import document_rollup_reversed, segment_rollup_correct
        from support.workspace import agent_home
        from tolling.importing.conflicts import CORRECTED

        home.register(Role.AGENT, agent_home)
        if segment_rollup_correct not in CORRECTED:
            CORRECTED.append(segment_rollup_correct)
        if document_rollup_reversed not in REVERSED:
            REVERSED.append(document_rollup_reversed)
