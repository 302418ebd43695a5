"""Locust users for `bench/load.py` (not run on its own): agents log in, search and open the record the search
found or a customer; managers open the dashboard. Sample values come from the JSON file in LOAD_SAMPLES, written
by bench/load.py.

Each HTTP request is measured on its own: a search that finds exactly one record answers with a redirect to it,
and that redirect is the search's answer (product.md §6 times the search); the record page it leads to is a
second request with its own name. FastHttpUser (geventhttpclient) keeps the load generator's own CPU small: it
shares the two cores with gunicorn and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import random
import re
from typing import Any
from urllib.parse import urlencode

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

SAMPLES: dict[str, Any] = json.loads(open(os.environ["LOAD_SAMPLES"], encoding="utf-8").read())  # noqa: SIM115
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RECORD = re.compile(r"^/(customers|cards|trips|documents|sheets)/")


class ConsoleUser(FastHttpUser):
    abstract = True
    wait_time = between(0.5, 2.0)
    username = ""

    def page(self, path: str, name: str, **params: Any) -> str:
        """GET a console page without following redirects; being sent to the login page is a failure, not a fast
        answer. Returns where a redirect points ('' for a page)."""
        url = f"{path}?{urlencode(params)}" if params else path
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as response:
            location = response.headers.get("Location") or ""
            if response.status_code not in (200, 302) or "/login/" in location:
                response.failure(f"HTTP {response.status_code} {location}")
                return ""
            response.success()
            return location

    def search(self, name: str, query: str) -> None:
        """A search; when it lands on one record, open it as an agent would (its own request, its own name)."""
        location = self.page("/search/", name, q=query)
        found = RECORD.match(location.removeprefix(self.host))
        if found:
            self.page(location.removeprefix(self.host), f"record page ({found[1]})")

    def on_start(self) -> None:
        """Log in once, as an agent does at the start of a shift (sessions last the working day)."""
        page = self.client.get("/login/", name="login (form)")
        token = CSRF.search(page.text or "")
        self.client.post(
            "/login/",
            data={
                "username": self.username,
                "password": SAMPLES["password"],
                "csrfmiddlewaretoken": token[1] if token else "",
            },
            headers={"Referer": self.host + "/login/"},
            name="login (post)",
        )


class Agent(ConsoleUser):
    weight = 3
    username = SAMPLES["agent"]

    @task(16)
    def search_plate(self) -> None:
        self.search("search plate", random.choice(SAMPLES["plates"]))

    @task(12)
    def search_card(self) -> None:
        self.search("search card", random.choice(SAMPLES["cards"]))

    @task(8)
    def search_name(self) -> None:
        self.search("search name", random.choice(SAMPLES["names"]))

    @task(16)
    def customer_page(self) -> None:
        self.page(f"/customers/{random.choice(SAMPLES['customers'])}/", "customer page")


class Manager(ConsoleUser):
    weight = 1
    username = SAMPLES["manager"]

    @task
    def dashboard(self) -> None:
        self.page("/reports/", "dashboard", **random.choice(SAMPLES["dashboard_filters"]))
