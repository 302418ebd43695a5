"""The form renderer: Django's widget templates through Jinja2, the admin's Django-only ones through Django."""

from __future__ import annotations

from django import forms
from django.forms.renderers import get_default_renderer
from django.template.backends.django import Template as DjangoTemplate
from django.template.backends.jinja2 import Template as Jinja2Template


class ProvinceForm(forms.Form):
    province = forms.ChoiceField(choices=[("", "全部省份"), ("32", "江苏"), ("33", "浙江<script>")])


def test_a_select_renders_through_jinja2_with_the_chosen_option_selected_and_labels_escaped() -> None:
    renderer = get_default_renderer()
    assert isinstance(renderer.get_template("django/forms/widgets/select.html"), Jinja2Template)
    html = str(ProvinceForm(initial={"province": "32"})["province"])
    assert '<option value="32" selected>江苏</option>' in html
    assert "浙江&lt;script&gt;" in html and "<script>" not in html


def test_a_template_only_the_django_engine_has_is_rendered_by_it() -> None:
    template = get_default_renderer().get_template("admin/widgets/related_widget_wrapper.html")
    assert isinstance(template, DjangoTemplate)
