"""Pages for scheduled reports and saved views: the schedule list with its delivery logs, create, edit, pause and
resume, preview (the PDF a schedule would send now) and test send; saving a template with its filters as a named
personal or shared view. Objects are fetched through scoped helpers (another scope's answers 404)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Count, Prefetch, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from piaogen.access import role_required, scoped
from piaogen.identifiers import Province
from piaogen.models import User
from reports.catalog import REGISTRY, template_for
from reports.exports import export_filename
from reports.filters import beijing_today
from reports.models import ReportDelivery, ReportFrequency, SavedView, ScheduledReport
from reports.scheduling import (
    last_finished_period,
    report_recipients,
    saved_view_delete,
    saved_view_save,
    saved_views_for,
    schedule_filters,
    scheduled_report_create,
    scheduled_report_pause,
    scheduled_report_pdf,
    scheduled_report_update,
    test_recipients,
)
from reports.selectors import REPORT_ROLES, SCHEDULERS
from reports.tasks import scheduled_report_test_task

DELIVERIES_PER_PAGE = 20  # a schedule's delivery log on the list, newest first


def _deliveries(request: HttpRequest, report: Any) -> Page[ReportDelivery]:
    """A page of a schedule's delivery log (``deliveries_<id>`` asks for another than the first): the first page
    and the count come with the list's queries (``schedule_list``), another page reads its rows."""
    paginator = Paginator(report.deliveries.order_by("-sent_at", "-pk"), DELIVERIES_PER_PAGE)
    paginator.count = report.delivery_count  # counted with the list (a cached_property, set before it is read)
    number = request.GET.get(f"deliveries_{report.pk}", "1")
    if number in ("", "1"):
        return Page(report.newest_deliveries, 1, paginator)
    return paginator.get_page(number)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def schedules_for(user: User) -> QuerySet[ScheduledReport]:
    return scoped(ScheduledReport.objects.select_related("created_by"), user)


class ScheduleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("名称"), max_length=100)
    template = forms.ChoiceField(label=gettext_lazy("报表"), required=False)
    view = forms.ChoiceField(label=gettext_lazy("报表视图"), required=False)
    frequency = forms.ChoiceField(label=gettext_lazy("频率"), choices=ReportFrequency.choices)
    province = forms.ChoiceField(label=gettext_lazy("省份"), required=False)
    recipients = forms.CharField(
        label=gettext_lazy("其他收件人"),
        required=False,
        help_text=gettext_lazy("本省工作人员自动接收；可另加邮箱，用逗号分隔"),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.views = {str(view.pk): view for view in saved_views_for(user)}
        self._choices(
            "template", [("", _("管理报表（运营看板）")), *((t.slug, str(t.title)) for t in REGISTRY.values())]
        )
        self._choices("view", [("", _("不使用视图")), *((pk, view.name) for pk, view in self.views.items())])
        if user.province_scope is not None:  # pinned to their province whatever the form says
            self._choices("province", [(user.province_scope, user.get_province_display())])
            self.fields["province"].disabled = True
            self.fields["province"].initial = user.province_scope
        else:
            self._choices("province", [("", _("全国")), *Province.choices])

    def _choices(self, name: str, choices: list[tuple[str, Any]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def clean_recipients(self) -> list[str]:
        addresses = [part.strip() for part in self.cleaned_data["recipients"].replace("，", ",").split(",")]
        field = forms.EmailField()
        return [field.clean(address) for address in addresses if address]

    def clean_province(self) -> str:
        return self.user.province_scope or self.cleaned_data["province"]

    def service_arguments(self) -> dict[str, Any]:
        """The form as the arguments of scheduled_report_create/update: a view brings its template and filters."""
        data = self.cleaned_data
        view = self.views.get(data.get("view") or "")
        template = view.template if view else data["template"]
        return {
            "name": data["name"], "frequency": data["frequency"], "province": data["province"],
            "recipients": data["recipients"], "template": template, "query": view.query if view else "",
        }  # fmt: skip


@role_required(*REPORT_ROLES)
@require_http_methods(["GET", "POST"])
def schedule_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    may_create = user.has_role(*SCHEDULERS)
    initial = {"template": request.GET.get("template", ""), "view": request.GET.get("view", "")}
    form = ScheduleForm(request.POST or None, user=user, initial=initial) if may_create else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            scheduled_report_create(by=user, **form.service_arguments())
            messages.success(request, _("定时报表已创建。"))
            return redirect("report-schedules")
    newest = ReportDelivery.objects.order_by("-sent_at", "-pk")[:DELIVERIES_PER_PAGE]
    reports = (
        schedules_for(user)
        .annotate(delivery_count=Count("deliveries"))
        .prefetch_related(Prefetch("deliveries", queryset=newest, to_attr="newest_deliveries"))
        .order_by("province", "name")
    )
    titles = {slug: str(template.title) for slug, template in REGISTRY.items()}
    rows = [
        {
            "report": report,
            "title": titles.get(report.template, _("管理报表")),
            "recipients": report_recipients(report),
            "deliveries": _deliveries(request, report),
        }
        for report in reports
    ]
    return render(request, "reports/schedules.html", {"rows": rows, "form": form, "may_create": may_create})


@role_required(*SCHEDULERS)
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HttpRequest, report_id: int) -> HttpResponse:
    user = _user(request)
    report = get_object_or_404(schedules_for(user), pk=report_id)
    initial = {"name": report.name, "template": report.template, "frequency": report.frequency,
               "province": report.province, "recipients": ", ".join(report.recipients)}  # fmt: skip
    form = ScheduleForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        arguments = form.service_arguments()
        if not form.cleaned_data.get("view"):
            arguments["query"] = None  # keep the filters it has
        scheduled_report_update(report=report, by=user, **arguments)
        messages.success(request, _("定时报表已保存。"))
        return redirect("report-schedules")
    return render(request, "reports/schedule_edit.html", {"report": report, "form": form})


@role_required(*SCHEDULERS)
@require_POST
def schedule_pause(request: HttpRequest, report_id: int) -> HttpResponse:
    user = _user(request)
    report = get_object_or_404(schedules_for(user), pk=report_id)
    active = request.POST.get("active") == "1"
    scheduled_report_pause(report=report, by=user, active=active)
    messages.success(request, _("定时报表已恢复。") if active else _("定时报表已暂停。"))
    return redirect("report-schedules")


@role_required(*REPORT_ROLES)
@require_GET
def schedule_preview(request: HttpRequest, report_id: int) -> HttpResponse:
    """The PDF the schedule would send now (its last finished period), without sending it."""
    report = get_object_or_404(schedules_for(_user(request)), pk=report_id)
    start, end = last_finished_period(report.frequency, beijing_today())
    response = HttpResponse(scheduled_report_pdf(report, start, end), content_type="application/pdf")
    filename = export_filename(report.template or "report", schedule_filters(report, start, end), "pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@role_required(*SCHEDULERS)
@require_POST
def schedule_test(request: HttpRequest, report_id: int) -> HttpResponse:
    user = _user(request)
    report = get_object_or_404(schedules_for(user), pk=report_id)
    if not test_recipients(report, user):
        messages.error(
            request, _("没有收件人：您的账号没有邮箱，该省工作人员均未填写邮箱，报表也未指定其他收件人。未发送。")
        )
        return redirect("report-schedules")
    transaction.on_commit(partial(scheduled_report_test_task.delay, report.pk, user.pk))
    messages.success(request, _("测试邮件已排队发送，结果见投递记录。"))
    return redirect("report-schedules")


@role_required(*REPORT_ROLES)
@require_GET
def delivery_pdf(request: HttpRequest, delivery_id: int) -> FileResponse:
    """The PDF a delivery sent (the delivery log's "what")."""
    deliveries = ReportDelivery.objects.filter(report__in=schedules_for(_user(request)))
    delivery = get_object_or_404(deliveries, pk=delivery_id)
    if not delivery.pdf:
        raise Http404
    name = (delivery.pdf.name or "").rsplit("/", 1)[-1]
    return FileResponse(delivery.pdf.open("rb"), filename=name, content_type="application/pdf")


# --- saved views -----------------------------------------------------------------------------------------------------


class SavedViewForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("视图名称"), max_length=100)
    shared = forms.BooleanField(label=gettext_lazy("与同范围的同事共享"), required=False)
    query = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)


@role_required(*REPORT_ROLES)
@require_POST
def view_save(request: HttpRequest, slug: str) -> HttpResponse:
    template = template_for(slug)
    if template is None:
        raise Http404
    form = SavedViewForm(request.POST)
    query = request.POST.get("query", "")
    if form.is_valid():
        view = saved_view_save(owner=_user(request), template=slug, **form.cleaned_data)
        messages.success(request, _("视图“%(name)s”已保存。") % {"name": view.name})
    else:
        messages.error(request, _("请填写视图名称。"))
    return redirect(f"{reverse('report-template', args=[slug])}?{query}")


@role_required(*REPORT_ROLES)
@require_POST
def view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = get_object_or_404(SavedView.objects.filter(owner=_user(request)), pk=view_id)
    saved_view_delete(view=view)
    messages.success(request, _("视图已删除。"))
    return redirect("report-templates")
