"""The console chrome and the role home pages: login, navigation, language switch, banner, logout, error pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.template import loader
from django.test import Client
from django.utils import timezone

from piaogen.models import Role, User

pytestmark = pytest.mark.django_db

PASSWORD = "Piaogen-test-2026"  # the password make_staff gives (tests/conftest.py)

# role → (home heading, navigation labels), in Chinese and in English
HOMES: dict[str, tuple[str, list[str]]] = {
    Role.AGENT: ("客服工作台", ["工作台", "搜索", "查询统计", "工单", "审计记录"]),
    Role.PROVINCE: ("数据上传", ["首页", "数据上传", "本省报表", "报表模板", "查询统计"]),
    Role.MANAGER: ("运营看板", ["运营看板", "报表模板", "报表", "查询统计", "导出"]),
    Role.MAINTAINER: ("运维管理", ["运维管理", "任务监控", "用户", "审计记录"]),
}
HOMES_EN: dict[str, tuple[str, list[str]]] = {
    Role.AGENT: ("Support workspace", ["Workspace", "Search", "Query statistics", "Tickets", "Audit trail"]),
    Role.PROVINCE: (
        "Data uploads",
        ["Home", "Data uploads", "Province reports", "Report templates", "Query statistics"],
    ),
    Role.MANAGER: (
        "Operations dashboard",
        ["Operations dashboard", "Report templates", "Reports", "Query statistics", "Exports"],
    ),
    Role.MAINTAINER: ("Maintenance", ["Maintenance", "Job monitor", "Users", "Audit trail"]),
}


def html(response: Any) -> str:
    return response.content.decode()


def nav_labels(page: str) -> list[str]:
    match = re.search(r'<nav class="mainnav".*?</nav>', page, re.S)
    assert match, "no main navigation on the page"
    return [label.strip() for label in re.findall(r"<a [^>]*>([^<]+)</a>", match.group(0))]


def h1(page: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    assert match, "no <h1> on the page"
    return match.group(1).strip()


@pytest.fixture
def staff_client(make_staff: Callable[..., User], client_for: Callable[[User], Client]) -> Callable[[str], Client]:
    def make(role: str) -> Client:
        return client_for(make_staff(role, "32" if role == Role.PROVINCE else ""))

    return make


def test_the_login_page_is_in_chinese_by_default(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    page = html(response)
    assert '<html lang="zh-hans">' in page
    assert h1(page) == "登录运营工作台"
    assert "用户名" in page and "密码" in page
    assert 'class="mainnav"' not in page  # no navigation before login
    assert 'name="language" value="en"' in page  # but the language switch is there


def test_bad_credentials_show_the_chinese_error(client: Client, agent: User) -> None:
    response = client.post("/login/", {"username": agent.username, "password": "not-the-password"})
    assert response.status_code == 200
    assert "请输入一个正确的用户名和密码" in html(response)
    assert "_auth_user_id" not in client.session


def test_good_credentials_lead_to_the_home_page(client: Client, agent: User) -> None:
    response = client.post("/login/", {"username": agent.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert h1(html(client.get("/"))) == "客服工作台"


@pytest.mark.parametrize("role", list(HOMES))
def test_each_role_home_page_shows_its_heading_and_navigation(role: str, staff_client: Callable[[str], Client]) -> None:
    response = staff_client(role).get("/")
    assert response.status_code == 200
    page = html(response)
    heading, labels = HOMES[role]
    assert h1(page) == heading
    assert nav_labels(page) == labels
    assert "lorem" not in page.lower()


def test_the_top_bar_names_the_user_role_and_province(
    province_user: User, client_for: Callable[[User], Client]
) -> None:
    page = html(client_for(province_user).get("/"))
    assert province_user.username in page
    assert '<span class="pill pill-role">省级用户</span>' in page
    assert '<span class="pill pill-province">江苏</span>' in page


def test_every_console_page_has_the_search_box_assets_and_no_inline_script(
    agent: User, client_for: Callable[[User], Client]
) -> None:
    page = html(client_for(agent).get("/"))
    assert 'id="global-search"' in page
    assert "/static/css/console.css" in page
    assert "/static/django_htmx/htmx-2.min.js" in page
    assert "/static/js/console.js" in page
    assert "//cdn" not in page and "https://" not in page  # nothing from the internet at run time
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []  # no inline scripts (CSP)
    assert re.findall(r"\son[a-z]+=", page) == []  # no inline event handlers


def test_the_server_renders_the_current_beijing_time(agent: User, client_for: Callable[[User], Client]) -> None:
    before = timezone.localtime()
    page = html(client_for(agent).get("/"))
    after = timezone.localtime()
    assert str(before.tzinfo) == "Asia/Shanghai"
    assert "北京时间" in page
    assert any(f"{moment:%Y-%m-%d %H:%M}" in page for moment in (before, after))


@pytest.mark.parametrize("role", list(HOMES_EN))
def test_the_english_switch_translates_the_console(role: str, staff_client: Callable[[str], Client]) -> None:
    client = staff_client(role)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    page = html(client.get("/"))
    heading, labels = HOMES_EN[role]
    assert '<html lang="en">' in page
    assert h1(page) == heading
    assert nav_labels(page) == labels
    assert "Sign out" in page
    assert 'name="language" value="zh-hans"' in page  # and the way back

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert h1(html(client.get("/"))) == HOMES[role][0]


def test_the_environment_banner_shows_outside_production(
    settings: Any, agent: User, client: Client, client_for: Callable[[User], Client]
) -> None:
    assert settings.ENVIRONMENT_BANNER  # development, test or staging
    for page in (html(client.get("/login/")), html(client_for(agent).get("/"))):
        assert 'class="env-banner' in page
        assert f"{settings.ENVIRONMENT_BANNER} — 非生产数据" in page


def test_there_is_no_banner_in_production(
    settings: Any, agent: User, client: Client, client_for: Callable[[User], Client]
) -> None:
    settings.ENVIRONMENT_BANNER = None
    for page in (html(client.get("/login/")), html(client_for(agent).get("/"))):
        assert "env-banner" not in page
        assert "非生产数据" not in page


def test_anonymous_visitors_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_logout_works_by_post(agent: User, client_for: Callable[[User], Client]) -> None:
    client = client_for(agent)
    page = html(client.get("/"))
    assert re.search(r'<form class="logout" method="post" action="/logout/">', page)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_a_user_without_a_role_gets_the_chinese_403_page(client_for: Callable[[User], Client]) -> None:
    nobody = User.objects.create_user("nobody", password="x")
    response = client_for(nobody).get("/")
    assert response.status_code == 403
    page = html(response)
    assert h1(page) == "无权访问此页面"
    assert 'class="mainnav"' not in page


def test_an_unknown_address_gets_the_chinese_404_page(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert h1(html(response)) == "页面不存在"


def test_the_500_page_renders_without_a_request() -> None:
    page = loader.get_template("500.html").render()
    assert h1(page) == "服务器内部错误"
    assert "/static/css/console.css" in page
