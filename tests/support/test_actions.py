"""Support actions through their pages: each action's happy path, a preview that writes nothing, a double submit
that acts once, 403 for managers and province users, 404 outside the province scope, the audit row and the ticket
note; domain errors come back as form errors with nothing written."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core import mail
from django.http import Http404
from django.test import Client
from django.utils import timezone

from invoicing.models import (
    BuyerTitle,
    CardBinding,
    Customer,
    Delivery,
    Document,
    DocumentEvent,
    DocumentItem,
    DocumentStatus,
    SummarySheet,
)
from piaogen.models import AuditEvent, Role, User
from support.actions import card_target, customer_target, document_target
from support.models import ActionRequest, TicketLink, TicketNote
from support.tickets import ticket_open
from tests.fixtures.claims import paper_ticket
from tests.fixtures.invoicing import CARD, segment
from tests.fixtures.support import HOLDER, holder_card

REASON = "客户来电要求"
MODELS = (
    Document,
    DocumentItem,
    DocumentEvent,
    Delivery,
    SummarySheet,
    CardBinding,
    BuyerTitle,
    AuditEvent,
    ActionRequest,
    TicketNote,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@dataclass
class Case:
    kind: str
    url: str
    data: dict[str, str]
    done: Callable[[], bool]  # the action's effect is there


def _case(name: str, world: dict[str, Any], issued: Document) -> Case:
    customer: Customer = world["customer"]
    if name == "resend":
        return Case("resend", f"/actions/documents/{issued.pk}/resend/", {}, lambda: len(mail.outbox) == 1)
    if name == "reverse":
        return Case(
            "reverse",
            f"/actions/documents/{issued.pk}/reverse/",
            {},
            lambda: Document.objects.get(pk=issued.pk).status == DocumentStatus.REVERSED,
        )
    if name == "reissue":
        return Case(
            "reissue",
            f"/actions/documents/{issued.pk}/reissue/",
            {"new_name": "南京某某科技有限公司", "new_tax_id": "91110000600037341L", "new_kind": "company"},
            lambda: Document.objects.filter(replaces=issued, buyer_name="南京某某科技有限公司").exists(),
        )
    if name == "request_invoices":
        fresh = segment(world, fee=4560)
        return Case(
            "request_invoices",
            f"/actions/customers/{customer.pk}/invoices/",
            {"card_no": CARD, "what": "trips", "keys": fresh.pass_id},
            lambda: DocumentItem.objects.filter(item_kind="segment", item_id=fresh.pk, live=True).exists(),
        )
    if name == "summary_sheet":
        pass_id = DocumentItem.objects.filter(document=issued).values_list("item_id", flat=True)
        from tolling.models import Segment

        trip = Segment.objects.get(pk=pass_id[0]).pass_id
        return Case(
            "summary_sheet",
            f"/actions/customers/{customer.pk}/sheet/",
            {"card_no": CARD, "keys": trip},
            lambda: SummarySheet.objects.filter(card_no=CARD, pass_ids=[trip]).exists(),
        )
    if name == "card_bind":
        holder_card("32010000000000000777")
        return Case(
            "card_bind",
            f"/actions/customers/{customer.pk}/bind/",
            {"card_no": "32010000000000000777", **HOLDER},
            lambda: CardBinding.objects.filter(
                card_no="32010000000000000777", customer=customer, unbound_at__isnull=True
            ).exists(),
        )
    if name == "card_unbind":
        card = holder_card(CARD)
        return Case(
            "card_unbind",
            f"/actions/cards/{card.pk}/unbind/",
            dict(HOLDER),
            lambda: not CardBinding.objects.filter(card_no=CARD, unbound_at__isnull=True).exists(),
        )
    if name == "claim":
        ticket = paper_ticket(world)
        return Case(
            "claim",
            f"/actions/customers/{customer.pk}/claim/",
            {
                "claim_kind": "paper_ticket",
                "number": ticket.ticket_no,
                "plate": "苏B54321",
                "title": str(world["title"].pk),
            },
            lambda: DocumentItem.objects.filter(item_kind="paper", item_id=ticket.pk, live=True).exists(),
        )
    assert name == "title_add"
    return Case(
        "title_add",
        f"/actions/customers/{customer.pk}/title/",
        {"kind": "company", "name": "张三的公司", "tax_id": "91110000600037341L", "card_no": ""},
        lambda: BuyerTitle.objects.filter(customer=customer, name="张三的公司").exists(),
    )


ACTIONS = [
    "resend",
    "reverse",
    "reissue",
    "request_invoices",
    "summary_sheet",
    "card_bind",
    "card_unbind",
    "title_add",
    "claim",
]


@pytest.fixture(params=ACTIONS)
def case(request: pytest.FixtureRequest, world: dict[str, Any], issued: Document) -> Case:
    return _case(request.param, world, issued)


@pytest.fixture
def agent_client(agent: User, client_for: Callable[[User], Client]) -> Client:
    return client_for(agent)


def post(client: Client, case: Case, step: str, key: str, **extra: str) -> Any:
    return client.post(case.url, {**case.data, "reason": REASON, "key": key, "step": step, **extra})


# --- every action -------------------------------------------------------------------------------------------------


def test_the_form_asks_for_a_reason_and_carries_an_idempotency_key(agent_client: Client, case: Case) -> None:
    response = agent_client.get(case.url)

    assert response.status_code == 200
    form = response.context["form"]
    assert "reason" in form.fields and form.fields["reason"].required
    assert isinstance(form.initial["key"], uuid.UUID)


def test_the_preview_shows_what_will_happen_and_writes_nothing(agent_client: Client, case: Case) -> None:
    before = counts()

    response = post(agent_client, case, "preview", str(uuid.uuid4()))

    assert response.status_code == 200, response.context["form"].errors
    preview = response.context["preview"]
    assert preview["summary"]
    assert counts() == before
    assert not case.done()
    assert mail.outbox == []


def test_confirming_acts_once_audits_and_shows_the_result(agent_client: Client, case: Case, agent: User) -> None:
    key = str(uuid.uuid4())

    response = post(agent_client, case, "confirm", key)

    action = ActionRequest.objects.get(key=key)
    assert response.status_code == 302 and response["Location"] == f"/actions/{action.pk}/"
    assert case.done()
    event = AuditEvent.objects.get(action=f"support.{case.kind}")
    assert (event.actor, event.reason, event.ip) == (agent, REASON, "127.0.0.1")
    assert event.object_type in ("invoicing.document", "invoicing.customer", "tolling.card")
    assert event.before is not None and event.after is not None and event.after["action"] == action.pk
    page = agent_client.get(response["Location"])
    assert page.status_code == 200 and action.result["summary"] in page.content.decode()


def test_a_double_submit_does_nothing_the_second_time_and_shows_the_first_result(
    agent_client: Client, case: Case
) -> None:
    key = str(uuid.uuid4())
    first = post(agent_client, case, "confirm", key)
    after_first = counts()
    outbox = len(mail.outbox)

    second = post(agent_client, case, "confirm", key)

    assert second.status_code == 302 and second["Location"] == first["Location"]
    assert counts() == after_first
    assert len(mail.outbox) == outbox
    assert ActionRequest.objects.filter(key=key).count() == 1


@pytest.mark.parametrize("role", [Role.MANAGER, Role.PROVINCE])
def test_managers_and_province_users_may_not_act(
    case: Case, role: str, make_staff: Callable[..., User], client_for: Callable[[User], Client]
) -> None:
    client = client_for(make_staff(role, "32" if role == Role.PROVINCE else ""))
    before = counts()

    assert client.get(case.url).status_code == 403
    assert post(client, case, "confirm", str(uuid.uuid4())).status_code == 403
    assert counts() == before and not case.done()


def test_a_maintainer_may_act(case: Case, maintainer: User, client_for: Callable[[User], Client]) -> None:
    response = post(client_for(maintainer), case, "confirm", str(uuid.uuid4()))

    assert response.status_code == 302
    assert case.done()


def test_an_action_done_for_a_ticket_leaves_a_note_and_links_on_it(
    agent_client: Client, case: Case, agent: User, world: dict[str, Any]
) -> None:
    ticket = ticket_open(category="other", subject="来电", customer=world["customer"], by=agent)

    response = agent_client.post(
        f"{case.url}?ticket={ticket.pk}", {**case.data, "reason": REASON, "key": str(uuid.uuid4()), "step": "confirm"}
    )

    assert response.status_code == 302
    note = TicketNote.objects.get(ticket=ticket)
    assert REASON in note.body and note.author == agent
    action = ActionRequest.objects.get()
    linked = set(TicketLink.objects.filter(ticket=ticket).values_list("object_type", "object_key"))
    assert action.ticket == ticket and action.result["links"]
    assert {tuple(link) for link in action.result["links"]} <= linked  # what the action touched


# --- scope --------------------------------------------------------------------------------------------------------


def test_records_outside_the_users_province_are_not_found(
    world: dict[str, Any], issued: Document, make_staff: Callable[..., User]
) -> None:
    """The action targets are fetched through the province scope: a user bound to Beijing (11) reaches none of
    Jiangsu's (32) records. (Actors are national today; the scope stays in the path for province-bound roles.)"""
    beijing = make_staff(Role.MANAGER, "11")
    jiangsu = make_staff(Role.MANAGER, "32", username="m32")
    customer = world["customer"]
    Customer.objects.filter(pk=customer.pk).update(province="32")
    card = holder_card("32010000000000000888")

    for fetch, pk in ((document_target, issued.pk), (customer_target, customer.pk), (card_target, card.pk)):
        with pytest.raises(Http404):
            fetch(beijing, pk)
        assert fetch(jiangsu, pk).obj.pk == pk


def test_an_unknown_ticket_is_a_404_and_nothing_is_done(agent_client: Client, issued: Document) -> None:
    response = agent_client.post(
        f"/actions/documents/{issued.pk}/reverse/?ticket=999999",
        {"reason": REASON, "key": str(uuid.uuid4()), "step": "confirm"},
    )

    assert response.status_code == 404
    assert Document.objects.get(pk=issued.pk).status == DocumentStatus.ISSUED


# --- domain errors ------------------------------------------------------------------------------------------------


def test_reissuing_outside_the_window_is_a_form_error_and_writes_nothing(
    agent_client: Client, issued: Document
) -> None:
    Document.objects.filter(pk=issued.pk).update(issued_at=timezone.now() - dt.timedelta(days=400))
    before = counts()

    response = agent_client.post(
        f"/actions/documents/{issued.pk}/reissue/",
        {"reason": REASON, "key": str(uuid.uuid4()), "step": "confirm", "new_name": "李四"},
    )

    assert response.status_code == 200
    assert "超过365天，不能换票" in " ".join(response.context["form"].non_field_errors())
    assert counts() == before


def test_reversing_a_reversed_document_is_a_form_error(agent_client: Client, issued: Document) -> None:
    post(
        agent_client,
        Case("reverse", f"/actions/documents/{issued.pk}/reverse/", {}, lambda: True),
        "confirm",
        str(uuid.uuid4()),
    )
    before = counts()

    response = agent_client.post(
        f"/actions/documents/{issued.pk}/reverse/", {"reason": REASON, "key": str(uuid.uuid4()), "step": "preview"}
    )

    assert "已红冲，不能重复红冲或换票" in " ".join(response.context["form"].non_field_errors())
    assert counts() == before


def test_a_missing_reason_is_refused(agent_client: Client, issued: Document) -> None:
    response = agent_client.post(
        f"/actions/documents/{issued.pk}/reverse/", {"reason": "  ", "key": str(uuid.uuid4()), "step": "confirm"}
    )

    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert Document.objects.get(pk=issued.pk).status == DocumentStatus.ISSUED


def test_binding_with_wrong_holder_data_is_refused_naming_the_fields(
    agent_client: Client, world: dict[str, Any]
) -> None:
    holder_card("32010000000000000777")
    data = {**HOLDER, "holder_id_no": "110101199003079999", "holder_phone": "13900000000"}

    response = agent_client.post(
        f"/actions/customers/{world['customer'].pk}/bind/",
        {"card_no": "32010000000000000777", **data, "reason": REASON, "key": str(uuid.uuid4()), "step": "confirm"},
    )

    errors = " ".join(response.context["form"].non_field_errors())
    assert "持卡人信息与发卡登记不符：证件号码、手机号" in errors
    assert not CardBinding.objects.filter(card_no="32010000000000000777").exists()


def test_binding_a_card_bound_to_another_account_is_refused(agent_client: Client, world: dict[str, Any]) -> None:
    holder_card(CARD)  # bound to 张三 in the world
    other = Customer.objects.create(name="李四", phone="13900000002")

    response = agent_client.post(
        f"/actions/customers/{other.pk}/bind/",
        {"card_no": CARD, **HOLDER, "reason": REASON, "key": str(uuid.uuid4()), "step": "preview"},
    )

    assert "已绑定其他账户，请先解绑" in " ".join(response.context["form"].non_field_errors())


def test_the_reissue_preview_shows_amounts_and_tax_of_the_red_and_new_documents(
    agent_client: Client, issued: Document, world: dict[str, Any]
) -> None:
    response = agent_client.post(
        f"/actions/documents/{issued.pk}/reissue/",
        {"reason": REASON, "key": str(uuid.uuid4()), "step": "preview", "new_name": "南京某某科技有限公司",
         "new_tax_id": "91110000600037341L"},
    )  # fmt: skip

    documents = response.context["preview"]["documents"]
    assert [(d["amount_net"], d["amount_tax"], d["amount_gross"]) for d in documents] == [
        (9709, 291, 10000),  # the original
        (-9709, -291, -10000),  # the red-letter document
        (9709, 291, 10000),  # the new one, with the corrected title
    ]
    assert documents[2]["buyer_name"] == "南京某某科技有限公司" and documents[2]["new"]
    page = response.content.decode()
    assert "¥97.09" in page and "¥2.91" in page and "确认后编号" in page
    assert not BuyerTitle.objects.filter(name="南京某某科技有限公司").exists()


def test_the_document_actions_include_offers_what_the_state_allows(
    agent_client: Client, issued: Document, agent: User
) -> None:
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = agent
    html = render_to_string("support/_document_actions.html", {"document": issued, "user": agent, "request": request})
    assert f"/actions/documents/{issued.pk}/reverse/" in html and f"/actions/documents/{issued.pk}/reissue/" in html

    issued.status = DocumentStatus.REVERSED
    html = render_to_string("support/_document_actions.html", {"document": issued, "user": agent, "request": request})
    assert "/reverse/" not in html and f"/actions/documents/{issued.pk}/resend/" in html


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submits_of_one_key_act_once(world: dict[str, Any], agent: User) -> None:
    """Two requests with the same key at the same moment: the second waits on the key's unique index until the
    first commits, then returns the first one's request; one red-letter document only."""
    import threading

    from django.db import connection

    from invoicing.issuing import issue_segments
    from support.actions import action_confirm

    (document,) = issue_segments(segment_ids=[segment(world, fee=10000).pk])
    key = uuid.uuid4()
    start = threading.Barrier(2)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            target = document_target(agent, document.pk)
            start.wait()
            action, ran = action_confirm(key=key, kind="reverse", target=target, data={"reason": REASON}, user=agent)
            results.append((action.pk, ran))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(ran for _pk, ran in results) == [False, True]
    assert len({pk for pk, _ran in results}) == 1
    assert Document.objects.filter(original=document).count() == 1
    assert AuditEvent.objects.filter(action="support.reverse").count() == 1


def test_the_card_actions_offer_unbinding_and_invoicing_only_for_a_bound_card(
    agent: User, world: dict[str, Any]
) -> None:
    from types import SimpleNamespace

    from django.template.loader import render_to_string
    from django.test import RequestFactory

    card = holder_card(CARD)
    request = RequestFactory().get("/")
    request.user = agent
    context = {"card": card, "user": agent, "request": request}

    bound = render_to_string(
        "support/_card_actions.html", {**context, "record": SimpleNamespace(customer=world["customer"])}
    )
    unbound = render_to_string("support/_card_actions.html", {**context, "record": SimpleNamespace(customer=None)})

    assert f"/actions/cards/{card.pk}/unbind/" in bound and f"?card_no={CARD}" in bound
    assert "/unbind/" not in unbound and "/tickets/new/" in unbound


def test_issued_invoices_are_delivered_after_commit_but_a_preview_enqueues_nothing(
    agent_client: Client, world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    fresh = segment(world, fee=4560)
    url = f"/actions/customers/{world['customer'].pk}/invoices/"
    data = {"card_no": CARD, "what": "trips", "keys": fresh.pass_id, "reason": REASON}

    with django_capture_on_commit_callbacks() as previewed:
        agent_client.post(url, {**data, "key": str(uuid.uuid4()), "step": "preview"})
    with django_capture_on_commit_callbacks() as confirmed:
        agent_client.post(url, {**data, "key": str(uuid.uuid4()), "step": "confirm"})

    assert previewed == []  # the issuing service's own on-commit delivery is discarded with the preview
    assert confirmed and "deliver" in repr(confirmed)


def test_a_new_title_version_applies_to_later_trips_only(agent: User, world: dict[str, Any]) -> None:
    from invoicing.customers import buyer_title_add
    from invoicing.eligibility import segment_states

    earlier = segment(world, fee=1000)

    title = buyer_title_add(
        customer=world["customer"], kind="company", name="张三的公司", tax_id="91110000600037341L",
        reason=REASON, by=agent,
    )  # fmt: skip

    state = segment_states(segment_ids=[earlier.pk])[earlier.pk]
    assert state.title is not None and state.title.pk == world["title"].pk  # the title in force at the trip
    assert title.valid_from > earlier.exit_time


def test_a_company_title_needs_a_valid_taxpayer_id(agent_client: Client, world: dict[str, Any]) -> None:
    url = f"/actions/customers/{world['customer'].pk}/title/"
    base = {"kind": "company", "name": "某公司", "reason": REASON, "step": "preview"}

    missing = agent_client.post(url, {**base, "key": str(uuid.uuid4())})
    invalid = agent_client.post(url, {**base, "tax_id": "91110000600037341X", "key": str(uuid.uuid4())})

    assert "单位抬头必须填写纳税人识别号" in " ".join(missing.context["form"].non_field_errors())
    assert "统一社会信用代码校验位错误" in " ".join(invalid.context["form"].errors["tax_id"])  # the field's validator


def test_a_key_used_for_another_action_is_refused(
    agent_client: Client, issued: Document, world: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    agent_client.post(
        f"/actions/customers/{world['customer'].pk}/title/",
        {"kind": "person", "name": "张三丰", "reason": REASON, "key": key, "step": "confirm"},
    )

    response = agent_client.post(
        f"/actions/documents/{issued.pk}/reverse/", {"reason": REASON, "key": key, "step": "confirm"}
    )

    assert "该请求已提交过其他操作" in " ".join(response.context["form"].non_field_errors())
    assert Document.objects.get(pk=issued.pk).status == DocumentStatus.ISSUED


# --- the same actions as API commands -----------------------------------------------------------------------------


def test_an_api_command_previews_runs_once_per_idempotency_key_and_maps_domain_errors(
    agent: User, world: dict[str, Any], make_staff: Callable[..., User]
) -> None:
    from rest_framework.test import APIClient

    holder_card("32010000000000000777")
    api = APIClient()
    api.force_authenticate(agent)
    url = f"/api/v1/actions/customers/{world['customer'].pk}/bind/"
    body = {"card_no": "32010000000000000777", **HOLDER, "reason": REASON}
    key = str(uuid.uuid4())

    preview = api.post(f"{url}?preview=1", body, format="json")
    assert preview.status_code == 200 and not CardBinding.objects.filter(card_no="32010000000000000777").exists()
    assert "32010000000000000777" in preview.json()["preview"]["plan"]

    first = api.post(url, body, format="json", headers={"Idempotency-Key": key})
    again = api.post(url, body, format="json", headers={"Idempotency-Key": key})

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert CardBinding.objects.filter(card_no="32010000000000000777").count() == 1
    conflict = api.post(url, body, format="json", headers={"Idempotency-Key": str(uuid.uuid4())})
    assert conflict.status_code == 400 and conflict.json()["code"] == "already_bound"
    assert api.post(url, body, format="json", headers={"Idempotency-Key": "nope"}).status_code == 400
    manager = APIClient()
    manager.force_authenticate(make_staff(Role.MANAGER))
    assert manager.post(url, body, format="json").status_code == 403


def test_the_unbind_and_title_commands(agent: User, world: dict[str, Any]) -> None:
    from rest_framework.test import APIClient

    card = holder_card(CARD)
    api = APIClient()
    api.force_authenticate(agent)

    unbound = api.post(f"/api/v1/actions/cards/{card.pk}/unbind/", {**HOLDER, "reason": REASON}, format="json")
    titled = api.post(
        f"/api/v1/actions/customers/{world['customer'].pk}/titles/",
        {"kind": "company", "name": "张三的公司", "tax_id": "91110000600037341L", "reason": REASON},
        format="json",
    )

    assert unbound.status_code == 201 and unbound.json()["kind"] == "card_unbind"
    assert not CardBinding.objects.filter(card_no=CARD, unbound_at__isnull=True).exists()
    assert titled.status_code == 201
    assert BuyerTitle.objects.filter(customer=world["customer"], name="张三的公司").exists()


def test_the_reissue_form_starts_from_the_current_title_and_its_type(agent_client: Client, issued: Document) -> None:
    response = agent_client.get(f"/actions/documents/{issued.pk}/reissue/")

    form = response.context["form"]
    assert issued.title is not None
    assert (form["new_name"].value(), form["new_tax_id"].value(), form["new_kind"].value()) == (
        issued.buyer_name,
        issued.buyer_tax_id,
        issued.title.kind,
    )
    assert f'value="{issued.buyer_name}"' in response.content.decode()


def test_reissuing_with_the_unchanged_title_is_a_form_error(agent_client: Client, issued: Document) -> None:
    response = agent_client.post(
        f"/actions/documents/{issued.pk}/reissue/",
        {"reason": REASON, "key": str(uuid.uuid4()), "step": "preview", "new_name": issued.buyer_name,
         "new_tax_id": issued.buyer_tax_id},
    )  # fmt: skip

    assert "抬头与原票据相同，请修改后再换票" in " ".join(response.context["form"].non_field_errors())


@pytest.mark.parametrize(("as_default", "in_force_after"), [("", "张三"), ("on", "南京某某科技有限公司")])
def test_a_corrected_title_becomes_the_customers_title_only_when_chosen(
    agent_client: Client, issued: Document, world: dict[str, Any], as_default: str, in_force_after: str
) -> None:
    from invoicing.eligibility.titles import title_in_force

    reissue = _case("reissue", world, issued)
    key = str(uuid.uuid4())
    extra = {"as_default": as_default} if as_default else {}
    preview = post(agent_client, reissue, "preview", key, **extra)
    confirm = dict(preview.context["form"].hidden_values())

    agent_client.post(reissue.url, {**confirm, "step": "confirm"})

    new = Document.objects.get(replaces=issued)
    assert new.buyer_name == "南京某某科技有限公司"  # the reissued document has the corrected title either way
    title = title_in_force(card_no=CARD, at=timezone.now())
    assert title is not None and title.name == in_force_after
    # the customer page tells the one-invoice title from the account's default
    page = agent_client.get(f"/customers/{world['customer'].pk}/").content.decode()
    assert ("<td>仅用于一张换票</td>" in page) is (not as_default)
