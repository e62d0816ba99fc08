"""The dashboard's tests: the real app served by uvicorn (``cutover.commands.dashboard.start``), a real
nginx in front of the proxy tests' echo backends, and Debian's Chromium driven by Playwright.

``dashboard`` starts a dashboard for a manifest in ``tmp_path`` whose front door is not running (moves are
checked with ``nginx -t`` and written for its next start); the browser tests share one running stack per
module (``stack``) and one browser (``browser``) to stay fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cutover.audit import AuditEntry, AuditLog, StoreNotFound
from cutover.commands.dashboard import DashboardServer, start
from cutover.dashboard.data import Sources
from cutover.proxy.apply import ProxyTarget, install_manifest
from cutover.proxy.manifest import load_manifest
from cutover.proxy.nginx import Nginx
from tests.cutover.proxy.conftest import REPO, EchoBackends, echo_backends, free_port, manifest_text  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
# Chromium on a closed network: without the background-networking flags its own connections (updates,
# sync, field trials) fail and slow every page.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TOKEN = "test-access-token-0123456789abcdef"

# Routes beside the demo's (all on legacy): one per browser test, so that none depends on another's move.
EXTRA_ROUTES = """
[[routes]]
id = "orders"
match = "prefix"
path = "/api/orders/"
mode = "modern"

[[routes]]
id = "refunds"
match = "prefix"
path = "/api/refunds/"
mode = "modern"

[[routes]]
id = "invoices"
match = "prefix"
path = "/api/invoices/"
methods = ["GET", "HEAD"]
mode = "modern"

[[routes]]
id = "carts"
match = "prefix"
path = "/api/carts/"
mode = "canary"
percent = 30
sticky = "client"
"""


def audit_entries(url: str, route: str | None = None) -> list[AuditEntry]:
    """The audit log's entries, newest first; none when no log was ever written."""
    try:
        with AuditLog(url, create=False) as log:
            return log.entries(route=route)
    except StoreNotFound:
        return []


def history_rows(page: str) -> list[list[str]]:
    """The cells of an audit table's rows on a page, newest first."""
    import html

    rows = re.findall(r'<tr class="outcome-\w+" data-audit-route="[^"]*">(.*?)</tr>', page, re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]  # fmt: skip


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def flashes(page: str) -> list[str]:
    import html

    return [
        html.unescape(m) for m in re.findall(r'<p class="flash flash-\w+" role="status">([^<]*)</p>', page)
    ]


def problem(page: str) -> str:
    import html

    found = re.search(r'id="problem">([^<]*)<', page)
    assert found is not None, f"no problem on the page: {page[:500]}"
    return html.unescape(found.group(1))


def differing_fields(page: str) -> list[list[str]]:
    """The highlighted differing fields on a page: [path, one side's value, the other's]."""
    import html

    rows = re.findall(r'<tr class="field diff">(.*?)</tr>', page, re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in rows]  # fmt: skip


@dataclass
class Dash:
    server: DashboardServer
    sources: Sources

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, follow_redirects=False, **kwargs)

    def signed_in(self) -> tuple[httpx.Client, str]:
        """A client with a session (signed in through the login form) and that session's CSRF token."""
        client = self.client()
        response = client.post("/login", data={"token": TOKEN, "next": "/"})
        assert response.status_code == 303, response.text
        return client, csrf_of(client.get("/").text)

    def manifest_route(self, route_id: str):
        return load_manifest(self.sources.manifest).route(route_id)


@pytest.fixture
def make_dashboard(tmp_path: Path) -> Iterator[Callable[..., Dash]]:
    """Start dashboards on a manifest in ``tmp_path`` (the demo's routes plus EXTRA_ROUTES) whose nginx is
    not running; each is stopped after the test."""
    started: list[Dash] = []

    def make(*, host: str = "127.0.0.1", manifest: Path | None = None, **overrides) -> Dash:
        if manifest is None:
            manifest = tmp_path / "routes.toml"
            manifest.write_text(manifest_text("127.0.0.1:18001", "127.0.0.1:18002", EXTRA_ROUTES))
        fields = {
            "manifest": manifest,
            "door": Nginx(tmp_path / "nginx"),
            "report": tmp_path / "parity-report.json",
            "repo": tmp_path,  # not a git work tree: no git run per page
            "audit_url": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
            "shadow_url": f"sqlite:///{tmp_path / 'shadow.sqlite3'}",
        }
        sources = Sources(**{**fields, **overrides})
        server = start(sources, host=host, port=0, refresh=0.5, token=TOKEN)
        started.append(Dash(server, sources))
        return started[-1]

    yield make
    for dash in started:
        dash.server.stop()


@pytest.fixture
def dashboard(make_dashboard) -> Dash:
    return make_dashboard()


@dataclass
class Stack:
    """A running nginx in front of the echo backends, and a dashboard on it."""

    dash: Dash
    door: Nginx
    front_url: str
    backends: EchoBackends

    def backend_of(self, path: str) -> str:
        """Which echo server answered ``path`` through the front door."""
        response = httpx.get(self.front_url + path, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["backend"]


@pytest.fixture(scope="module")
def stack(echo_backends: EchoBackends, tmp_path_factory) -> Iterator[Stack]:  # noqa: F811
    base = tmp_path_factory.mktemp("dashboard-stack")
    manifest = base / "routes.toml"
    manifest.write_text(
        manifest_text(echo_backends.legacy.address, echo_backends.modern.address, EXTRA_ROUTES)
    )
    door = Nginx(base / "nginx")
    port = free_port()
    install_manifest(manifest, door, ProxyTarget(listen=f"127.0.0.1:{port}"))
    proc = door.start()
    try:
        sources = Sources(
            manifest=manifest,
            door=door,
            report=base / "parity-report.json",
            repo=base,
            audit_url=f"sqlite:///{base / 'audit.sqlite3'}",
            shadow_url=f"sqlite:///{base / 'shadow.sqlite3'}",
        )
        server = start(sources, host="127.0.0.1", port=0, refresh=0.5, token=TOKEN)
        try:
            yield Stack(Dash(server, sources), door, f"http://127.0.0.1:{port}", echo_backends)
        finally:
            server.stop()
    finally:
        door.stop(proc)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (which never downloads a browser of its own here)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the dashboard's browser tests drive Debian's chromium; "
            "`make test` installs it (apt-get install --no-install-recommends chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
