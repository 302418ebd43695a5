"""The form renderer: Django's own widget templates through Jinja2, everything else through the Django engine.

Django's template engine renders each `<option>` of a select through a template of its own, 2–5 ms of CPU on a
page with a filter bar; Django ships the same widget templates for Jinja2, which renders them in a fraction of that
(docs/benchmarks.md § Load). Templates that exist only for the Django engine — the admin's widget wrappers — are
rendered by it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.forms.renderers import DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist


class FormRenderer(Jinja2):
    @cached_property
    def django_engine(self) -> DjangoTemplates:
        return DjangoTemplates()

    def get_template(self, template_name: str) -> Any:
        try:
            return super().get_template(template_name)
        except TemplateDoesNotExist:
            return self.django_engine.get_template(template_name)
