#!/usr/bin/env python3
"""Cold load of each report template page (issue #14 item 6: ≤ 1 s on loopback), as the demo manager, with
Debian's chromium; the browser cache is cleared (CDP) before each visit, so plotly and the page's assets are fetched
again. Against a running console (`bin/run`, demo data):

    .venv/bin/python bench/coldload.py http://127.0.0.1:8000 monthly,provinces,business-lines,tax,uploads,support

Prints per visit: the load event, network idle (Playwright's: includes its 500 ms of quiet), bytes transferred and
the number of plotly charts drawn."""

import sys
import time

from playwright.sync_api import sync_playwright

BASE, SLUGS = sys.argv[1], sys.argv[2].split(",")
TRANSFERRED = "performance.getEntriesByType('resource').reduce((a, r) => a + (r.transferSize || 0), 0)"
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{BASE}/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "piaogen-demo-2026")
    page.locator("form button, form input[type=submit]").last.click()
    page.wait_for_load_state("networkidle")
    print("after login:", page.url)
    cdp = ctx.new_cdp_session(page)
    for slug in SLUGS:
        for _visit in range(2):
            cdp.send("Network.clearBrowserCache")
            t = time.perf_counter()
            resp = page.goto(f"{BASE}/reports/templates/{slug}/", wait_until="load")
            load = time.perf_counter() - t
            page.wait_for_load_state("networkidle")
            idle = time.perf_counter() - t
            kib = page.evaluate(TRANSFERRED) / 1024
            charts = page.locator(".js-plotly-plot").count()
            status = resp.status if resp is not None else "-"
            print(
                f"{slug:15} {status} load {load * 1000:.0f} ms, network idle {idle * 1000:.0f} ms, "
                f"{kib:.0f} KiB transferred, {charts} charts"
            )
    browser.close()
