"""The audit trail viewer and its CSV export (agents and maintainers), and the PII reveal form."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from invoicing.eligibility import BEIJING
from invoicing.models import Customer
from piaogen.access import role_required, scoped
from piaogen.models import AuditEvent, User
from support.audit import (
    AUDIT_READERS,
    OBJECT_PAGES,
    AuditFilter,
    Names,
    audit_csv_lines,
    audit_events,
    change_items,
    event_province,
    object_type_label,
    object_url,
)
from support.forms import PiiRevealForm
from support.privacy import (
    REVEALERS,
    customer_id_no,
    customer_phone,
    pii_reveal,
    pii_revealed,
    reveal_minutes,
)

PAGE_SIZE = 50


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _filtered(request: HttpRequest) -> tuple[AuditFilter, QuerySet[AuditEvent]]:
    events = scoped(audit_events(), _user(request))  # readers are national today; the scope stays in the path
    filterset = AuditFilter(request.GET or None, queryset=events)
    return filterset, (filterset.qs if filterset.is_bound and filterset.is_valid() else events)


@require_GET
@role_required(*AUDIT_READERS)
def audit_list(request: HttpRequest) -> HttpResponse:
    filterset, events = _filtered(request)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    names = Names()
    for _pass in range(2):  # the first pass learns which records the page names, the second shows them by name
        rows = [
            {
                "event": event,
                "object_label": object_type_label(event.object_type),
                "object_url": object_url(event.object_type, event.object_id),
                "object": names.get(event.object_type, event.object_id) if event.object_type in OBJECT_PAGES else "",
                "province": event_province(event.province),
                "before": change_items(event.object_type, event.before, names),
                "after": change_items(event.object_type, event.after, names),
            }
            for event in page.object_list
        ]
        names.resolve(_user(request))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "support/audit_list.html",
        {"filter": filterset, "page": page, "rows": rows, "query": query.urlencode()},
    )


@require_GET
@role_required(*AUDIT_READERS)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered trail as CSV (UTF-8 with BOM, formula-safe cells, PII masked), streamed."""
    _filterset, events = _filtered(request)
    stamp = timezone.localtime(timezone.now(), BEIJING).strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(audit_csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@require_http_methods(["GET", "POST"])
@role_required(*REVEALERS)
def pii_reveal_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a customer's phone and ID numbers for a while, after a reason (audited)."""
    user = _user(request)
    customer = get_object_or_404(scoped(Customer.objects.all(), user), pk=pk)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = PiiRevealForm(request.POST or None, initial={"next": next_url})
    if request.method == "POST" and form.is_valid():
        try:
            reveal = pii_reveal(user=user, customer=customer, reason=form.cleaned_data["reason"], request=request)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            until = timezone.localtime(reveal.expires_at, BEIJING).strftime("%H:%M")
            messages.success(request, _("已显示敏感信息，%(until)s 后自动恢复掩码") % {"until": until})
            return redirect(next_url or "pii-reveal", *([] if next_url else [customer.pk]))
    revealed = pii_revealed(user=user, customer=customer)
    context = {
        "customer": customer,
        "form": form,
        "minutes": reveal_minutes(),
        "revealed": revealed,
        "phone": customer_phone(user=user, customer=customer, revealed=revealed),
        "id_no": customer_id_no(user=user, customer=customer, revealed=revealed),
    }
    return render(request, "support/pii_reveal.html", context)
