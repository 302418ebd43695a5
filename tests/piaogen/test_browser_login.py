"""Each role signs in through a real browser (Debian chromium) and lands on its Chinese home page."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from piaogen.models import Role, User

PASSWORD = "Piaogen-test-2026"  # the password make_staff gives (tests/conftest.py)
# outside the repository (/tmp/piaogen-shots): for people to look at, never compared
SHOTS = Path(tempfile.gettempdir()) / "piaogen-shots"

HEADINGS: dict[str, str] = {
    Role.AGENT: "客服工作台",
    Role.PROVINCE: "数据上传",
    Role.MANAGER: "运营看板",
    Role.MAINTAINER: "运维管理",
}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/login/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


@pytest.mark.parametrize("role", list(HEADINGS))
def test_each_role_signs_in_and_sees_its_chinese_home_page(
    role: str, page: Page, live_server: Any, make_staff: Callable[..., User]
) -> None:
    user = make_staff(role, "32" if role == Role.PROVINCE else "")
    sign_in(page, live_server.url, user)

    expect(page.get_by_role("heading", level=1, name=HEADINGS[role])).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".env-banner")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"home_{role}.png"), full_page=True)


def test_slash_focuses_the_global_search_box(page: Page, live_server: Any, make_staff: Callable[..., User]) -> None:
    sign_in(page, live_server.url, make_staff(Role.AGENT))
    expect(page.get_by_role("heading", level=1, name="客服工作台")).to_be_visible()
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()


def test_a_wrong_password_shows_the_chinese_error(
    page: Page, live_server: Any, make_staff: Callable[..., User]
) -> None:
    user = make_staff(Role.AGENT)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("请输入一个正确的用户名和密码")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "login_error.png"), full_page=True)


def test_the_language_button_switches_the_console_to_english(
    page: Page, live_server: Any, make_staff: Callable[..., User]
) -> None:
    sign_in(page, live_server.url, make_staff(Role.PROVINCE, "32"))
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1, name="Data uploads")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "home_province_en.png"), full_page=True)
    page.get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("heading", level=1, name="数据上传")).to_be_visible()
