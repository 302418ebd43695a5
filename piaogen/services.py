"""Writes on staff accounts and tokens (shared by the create_staff command, seed_demo and tests)."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from piaogen.identifiers import PROVINCE_NAMES
from piaogen.models import ApiToken, Role, User
from piaogen.roles import group_name


@transaction.atomic
def staff_upsert(*, username: str, role: str, province: str = "", password: str | None = None) -> User:
    """Create or update a staff user with a role, its group, and a province scope where the role takes one."""
    if role not in Role.values:
        raise ValidationError(_("未知角色：%(role)s") % {"role": role})
    if province and province not in PROVINCE_NAMES:
        raise ValidationError(_("未知省份代码：%(code)s") % {"code": province})
    if role == Role.PROVINCE and not province:
        raise ValidationError(_("省级用户必须指定省份。"))
    if province and role not in (Role.PROVINCE, Role.MANAGER):
        raise ValidationError(_("只有省级用户和管理人员可以限定省份。"))
    user, _created = User.objects.get_or_create(username=username)
    if password is not None:
        validate_password(password, user)  # the password rules (settings.AUTH_PASSWORD_VALIDATORS), translated
    user.role = role
    user.province = province
    user.is_staff = role == Role.MAINTAINER  # the Django admin is the maintainers' tool
    user.is_superuser = False
    if password is not None:
        user.set_password(password)
    elif not user.has_usable_password():
        user.set_unusable_password()
    user.save()
    user.groups.set(Group.objects.filter(name=group_name(role)))
    return user


def api_token_issue(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for a system account; the clear key is returned once and never stored."""
    if not user.has_role(Role.PROVINCE):
        raise ValidationError(_("API 令牌只发给省级系统账号。"))
    return ApiToken.issue(user=user, name=name)
