"""Staff accounts, roles, API tokens and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from piaogen.audit import audit_record
from piaogen.models import ApiToken, AuditEvent, Role, User
from piaogen.roles import group_name

pytestmark = pytest.mark.django_db


def test_create_staff_makes_a_province_user_in_the_role_group_and_prints_a_token_once() -> None:
    out = StringIO()
    call_command("create_staff", "su_api", "--role", "province", "--province", "32", "--api-token", stdout=out)

    user = User.objects.get(username="su_api")
    assert (user.role, user.province, user.is_staff) == (Role.PROVINCE, "32", False)
    assert list(user.groups.values_list("name", flat=True)) == [group_name(Role.PROVINCE)]
    key = out.getvalue().split("API token: ")[1].strip()
    token = ApiToken.objects.get(user=user)
    assert token.key_hash == ApiToken.hash_key(key)
    assert key not in {token.key_hash, token.prefix}


def test_create_staff_refuses_a_province_user_without_a_province() -> None:
    with pytest.raises(CommandError, match="省级用户必须指定省份"):
        call_command("create_staff", "nowhere", "--role", "province", stdout=StringIO())


def test_create_staff_refuses_a_province_scope_on_an_agent() -> None:
    with pytest.raises(CommandError, match="只有省级用户和管理人员可以限定省份"):
        call_command("create_staff", "a1", "--role", "agent", "--province", "32", stdout=StringIO())


def test_create_staff_updates_an_existing_user_instead_of_duplicating_it() -> None:
    call_command("create_staff", "li", "--role", "agent", "--password", "Piaogen-test-2026", stdout=StringIO())
    call_command("create_staff", "li", "--role", "maintainer", stdout=StringIO())

    user = User.objects.get(username="li")
    assert (user.role, user.is_staff) == (Role.MAINTAINER, True)
    assert user.check_password("Piaogen-test-2026")
    assert list(user.groups.values_list("name", flat=True)) == [group_name(Role.MAINTAINER)]


def test_the_database_refuses_a_province_user_without_a_province() -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        User.objects.create(username="x", role=Role.PROVINCE, province="")


def test_role_groups_carry_the_permissions_of_the_role(make_staff: Callable[..., User]) -> None:
    agent = make_staff(Role.AGENT)
    province = make_staff(Role.PROVINCE, "32")

    assert agent.has_perm("support.add_ticket")
    assert not agent.has_perm("tolling.add_uploadbatch")
    assert province.has_perm("tolling.add_uploadbatch")
    assert not province.has_perm("support.view_ticket")


def test_an_api_token_authenticates_its_system_and_a_revoked_one_does_not(make_staff: Callable[..., User]) -> None:
    user = make_staff(Role.PROVINCE, "33")
    token, key = ApiToken.issue(user=user, name="浙江省级系统")
    client = APIClient()

    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert response.json() == {"username": user.username, "role": "province", "province": "33"}

    token.revoked_at = token.created_at
    token.save()
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION="Token pg_made-up").status_code == 401


def test_the_audit_trail_refuses_updates_and_deletes_in_the_database(agent: User) -> None:
    event = audit_record(actor=agent, action="customer.reveal", object_type="customer", object_id="7", reason="核实")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE piaogen_auditevent SET reason = 'x' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).reason == "核实"
