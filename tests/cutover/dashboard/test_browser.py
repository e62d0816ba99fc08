"""The dashboard in a real browser (Debian's Chromium, headless, through Playwright) on a real nginx in front
of the echo backends: the routes table is the manifest; a rollback without a session is refused and moves
nothing; signed in with the token, a click on rollback moves the route (the front door answers from the
legacy) and the move is in the route's history and the audit log; traffic through nginx shows up in the
figures and the charts. A screenshot of the page is kept in test-artifacts/dashboard.png."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover.proxy.manifest import load_manifest
from tests.cutover.dashboard.conftest import TOKEN, audit_entries
from tests.cutover.proxy.conftest import REPO, access_log

ARTIFACTS = REPO / "test-artifacts"
WAIT = 10_000  # ms: a figure shows within a refresh (0.5 s) of the log's next read (1 s)


@pytest.fixture
def page(browser, stack) -> Iterator:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(WAIT)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    # Scripts that throw, and any file or JSON the page fetches failing (a refused page's own 403 is a test's
    # expectation, not an error of the page).
    opened.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and ("/static/" in r.url or "/api/" in r.url)
            else None
        ),
    )
    opened.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None
        ),
    )
    yield opened
    context.close()
    assert errors == [], f"the page's JavaScript failed: {errors}"


def row(page, route_id: str):
    return page.locator(f'tbody.route[data-route="{route_id}"]')


def test_the_routes_table_is_the_manifest(page, stack):
    page.goto(stack.dash.url + "/")
    manifest = load_manifest(stack.dash.sources.manifest)
    shown = page.locator("tbody.route").evaluate_all(
        """rows => rows.map(r => ({
            id: r.dataset.route,
            match: r.querySelector('[data-field=match]').textContent.trim(),
            methods: r.querySelector('[data-field=methods]').textContent.trim(),
            mode: r.querySelector('[data-cell=mode]').textContent.trim(),
            share: r.querySelector('[data-cell=share]').textContent.trim(),
            pinned: r.querySelector('[data-field=pinned]').textContent.trim(),
        }))"""
    )
    expected = [
        {
            "id": r.id,
            "match": f"{r.match} {r.path}",
            "methods": " ".join(r.methods),
            "mode": r.mode + (f" {r.percent}% by {r.sticky}" if r.mode == "canary" else ""),
            "share": f"{r.modern_share}%",
            "pinned": "yes" if r.pinned else "no",
        }
        for r in manifest.routes
    ]
    assert shown == expected
    assert {"orders", "carts", "admin"} <= {r["id"] for r in shown}
    # The pinned routes offer no action; the others offer the three.
    assert row(page, "admin").locator("form.actions").count() == 0
    assert row(page, "orders").locator("button[name=action]").all_inner_texts() == [
        "canary",
        "modern",
        "rollback",
    ]


def test_a_rollback_without_a_session_is_refused_and_the_route_stays_on_modern(page, stack):
    assert stack.backend_of("/api/refunds/1") == "modern"
    page.goto(stack.dash.url + "/")
    row(page, "refunds").locator("button[value=rollback]").click()
    page.wait_for_selector("#problem")
    assert page.locator("h1").inner_text().startswith("Refused")
    assert (
        "refused: nothing was moved; sign in with the access token" in page.locator("#problem").inner_text()
    )
    assert stack.backend_of("/api/refunds/1") == "modern"
    assert stack.dash.manifest_route("refunds").mode == "modern"
    assert audit_entries(stack.dash.sources.audit_url, "refunds") == []


def test_signed_in_a_rollback_moves_the_route_and_is_in_its_history(page, stack):
    assert stack.backend_of("/api/orders/1") == "modern"
    page.goto(stack.dash.url + "/")
    page.get_by_role("link", name="sign in").click()
    page.fill("input[name=token]", TOKEN)
    page.get_by_role("button", name="sign in").click()
    page.wait_for_selector("text=signed in: the actions are yours to use")
    row(page, "orders").locator("button[value=rollback]").click()
    flash = page.locator(".flash-moved")
    assert flash.inner_text() == "orders: modern -> legacy (switched live on nginx)"
    assert stack.backend_of("/api/orders/1") == "legacy"  # through the front door, at once
    assert row(page, "orders").locator("[data-cell=mode]").inner_text() == "legacy"
    page.get_by_role("link", name="orders", exact=True).first.click()
    page.wait_for_url("**/routes/orders")
    history = page.locator("table.audit tbody tr").first
    cells = history.locator("td").all_inner_texts()
    assert cells[2:] == ["dashboard", "modern", "legacy", "legacy", "moved", "not gated (rollback)", "no"]
    assert cells[1].endswith(" from 127.0.0.1")
    [entry] = audit_entries(stack.dash.sources.audit_url, "orders")
    assert (entry.source, entry.before, entry.after, entry.outcome) == (
        "dashboard",
        "modern",
        "legacy",
        "moved",
    )


def test_traffic_through_nginx_shows_in_the_figures_and_the_charts(page, stack, tmp_path: Path):
    page.goto(stack.dash.url + "/")
    page.wait_for_function("() => Number(document.body.dataset.refreshes || 0) >= 1")
    page.evaluate("() => { window.loadedOnce = true; }")  # gone if the page reloads
    log = stack.door.access_log
    already = len(access_log(log, 0))
    for i in range(7):
        assert stack.backend_of(f"/api/invoices/{i}") == "modern"
    for _ in range(4):
        assert stack.backend_of("/api/users/") == "legacy"
    access_log(log, already + 11)  # nginx logs a request after answering it
    invoices, users = row(page, "invoices"), row(page, "users")
    # Refreshed in place from the JSON, without a reload: the counts per backend are the requests sent.
    page.wait_for_function(
        """() => document.querySelector('tbody[data-route=invoices] [data-cell=modern_requests]').textContent === '7'
            && document.querySelector('tbody[data-route=users] [data-cell=legacy_requests]').textContent === '4'"""
    )
    assert page.evaluate("() => window.loadedOnce") is True
    assert invoices.locator("[data-cell=legacy_requests]").inner_text() == "0"
    assert users.locator("[data-cell=modern_requests]").inner_text() == "0"
    assert invoices.locator("[data-cell=actual]").inner_text() == "100%"
    assert invoices.locator("[data-cell=modern_errors]").inner_text() == "0.0%"
    assert invoices.locator("[data-cell=modern_p99]").inner_text().endswith(" ms")
    # The charts: three per route, drawn by uPlot, whose modern series carries the requests sent.
    assert invoices.locator("[data-chart] canvas").count() == 3
    sums = page.evaluate(
        """() => ['invoices|per_second', 'users|per_second'].map(key => {
            const data = window.cutoverDashboard.plots[key].data;
            return [data[1], data[2]].map(values => values.reduce((a, v) => a + (v || 0), 0));
        })"""
    )
    (invoices_legacy, invoices_modern), (users_legacy, users_modern) = sums
    assert invoices_modern > 0 and users_legacy > 0  # the requests sent, in the series they went to
    assert invoices_legacy == 0 and users_modern == 0
    page.goto(stack.dash.url + "/routes/invoices")
    page.wait_for_function("() => document.querySelectorAll('.charts-large canvas').length === 3")
    page.goto(stack.dash.url + "/")
    page.wait_for_function("() => document.querySelectorAll('[data-chart] canvas').length > 0")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    shutil.copy(shot, ARTIFACTS / "dashboard.png")
