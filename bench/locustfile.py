"""Locust users for `bench/load.py` (not run on its own): agents log in, search and open customers; managers
open the dashboard. Sample values come from the JSON file in LOAD_SAMPLES, written by bench/load.py."""

from __future__ import annotations

import json
import os
import random
import re
from typing import Any

from locust import HttpUser, between, task

SAMPLES: dict[str, Any] = json.loads(open(os.environ["LOAD_SAMPLES"], encoding="utf-8").read())  # noqa: SIM115
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class ConsoleUser(HttpUser):
    abstract = True
    wait_time = between(0.5, 2.0)
    username = ""

    def page(self, path: str, name: str, **params: Any) -> None:
        """GET a console page; being sent to the login page is a failure, not a fast answer."""
        with self.client.get(path, params=params, name=name, catch_response=True) as response:
            if "/login/" in response.url:
                response.failure("sent to the login page")

    def log_in(self) -> None:
        page = self.client.get("/login/", name="login (form)")
        token = CSRF.search(page.text)
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

    def on_start(self) -> None:
        self.log_in()

    @task(1)
    def login_again(self) -> None:
        """A fresh login now and then (sessions end with the browser): about one request in fifty, since password
        hashing (PBKDF2, 1 M iterations) costs ≈ 0.3 s of CPU per login by design."""
        self.client.cookies.clear()
        self.log_in()


class Agent(ConsoleUser):
    weight = 3
    username = SAMPLES["agent"]

    @task(16)
    def search_plate(self) -> None:
        self.page("/search/", "search plate", q=random.choice(SAMPLES["plates"]))

    @task(12)
    def search_card(self) -> None:
        self.page("/search/", "search card", q=random.choice(SAMPLES["cards"]))

    @task(8)
    def search_name(self) -> None:
        self.page("/search/", "search name", q=random.choice(SAMPLES["names"]))

    @task(16)
    def customer_page(self) -> None:
        self.page(f"/customers/{random.choice(SAMPLES['customers'])}/", "customer page")


class Manager(ConsoleUser):
    weight = 1
    username = SAMPLES["manager"]

    @task(48)
    def dashboard(self) -> None:
        self.page("/reports/", "dashboard", **random.choice(SAMPLES["dashboard_filters"]))
