"""Shadow traffic end to end, with real parts: nginx rendered from the manifest, the real Django app under
gunicorn and the real port under uvicorn (``altered_port.py``: the demo's port, optionally with one field of
one route changed) on the test database, and the comparator as ``cutover shadow serve`` in its own process.

- the unaltered port: the written parity cases' safe requests replayed as traffic report no difference;
- the port altered on one field of one route: reported on that route and that field path, nothing else;
- writes through a 100%-shadowed route leave exactly the rows the legacy alone writes, and none reaches
  the port or the comparator;
- the comparator slow (2 s per comparison) or stopped: every client request still gets the legacy's answer;
- the store holds none of the tokens or passwords used.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from rest_framework.authtoken.models import Token
from typer.testing import CliRunner

from cutover.cli import app
from cutover.database import child_env
from cutover.dburl import DatabaseURL, database_url_from_env
from cutover.parity.cases import load_cases
from cutover.runner import python_module
from cutover.shadow.server import STATUS_PATH
from legacy_django.users.models import User
from tests.cutover.proxy.conftest import REPO, free_port, manifest_text, stop, wait_until_serving

pytestmark = pytest.mark.django_db(transaction=True)  # the servers must see the rows the tests create

PASSWORD = "a-long-pass-phrase-9"


def database_env(**extra: str) -> dict[str, str]:
    base = database_url_from_env()
    assert isinstance(base, DatabaseURL)
    return child_env(base.with_name(connection.settings_dict["NAME"]), CONN_MAX_AGE="0", **extra)


class Server:
    def __init__(self, argv: list[str], env: dict[str, str], health: str) -> None:
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env)
        wait_until_serving(health, self.proc)

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture
def port_server(tmp_path: Path) -> Iterator:
    """Start the port (``altered_port.py``), altered or not; the requests it saw are in ``seen``."""
    started: list[Server] = []

    def start(alter: str = "") -> tuple[str, Path]:
        seen = tmp_path / f"port{len(started)}-seen.txt"
        port = free_port()
        argv = python_module(
            "uvicorn", "tests.cutover.shadow.altered_port:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning",
        )  # fmt: skip
        env = database_env(SHADOW_ALTER=alter, SHADOW_SEEN=str(seen))
        started.append(Server(argv, env, f"http://127.0.0.1:{port}/api/users/"))
        return f"127.0.0.1:{port}", seen

    yield start
    for server in started:
        server.stop()


def comparator(legacy: str, modern: str, store: Path, port: int, *, slow: bool = False) -> Server:
    command = ["tests.cutover.shadow.slow_comparator"] if slow else ["cutover", "shadow", "serve"]
    argv = python_module(
        *command, "--legacy", f"http://{legacy}", "--modern", f"http://{modern}",
        "--port", str(port), "--store", f"sqlite:///{store}",
    )  # fmt: skip
    return Server(argv, database_env(), f"http://127.0.0.1:{port}{STATUS_PATH}")


def shadowed(legacy: str, modern: str, shadow_port: int, routes: dict[str, int]) -> str:
    """The demo manifest on these servers, the given routes shadowed (all still on legacy)."""
    text = manifest_text(legacy, modern) + f'\n[backends.shadow]\nservers = ["127.0.0.1:{shadow_port}"]\n'
    for route, share in routes.items():
        marker = f'id = "{route}"\n'
        assert marker in text
        text = text.replace(marker, f"{marker}shadow = {share}\n", 1)
    return text


def settled(port: int, expected: int, timeout: float = 60) -> dict:
    """The comparator's figures once ``expected`` copies were handled (compared, errors or dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        status = httpx.get(f"http://127.0.0.1:{port}{STATUS_PATH}", timeout=5).json()
        done = status.get("compared", 0) + status.get("errors", 0) + status.get("dropped", 0)
        if (done >= expected and status["queue"] == 0) or time.monotonic() > deadline:
            time.sleep(1.2)  # the mirrored counters are written each second
            return status
        time.sleep(0.1)


def report(store: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["shadow", "report", "--store", str(store), "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def routes_of(data: dict) -> dict[str, dict]:
    return {r["route"]: r for r in data["routes"]}


@pytest.fixture
def users(db) -> list[tuple[User, str]]:
    hashed = make_password(PASSWORD)
    made = []
    for n in range(4):
        staff = n == 3
        name = "shadow-staff" if staff else f"shadow-{n}"
        user = User.objects.create(
            username=name, email=f"{name}@example.com", password=hashed, is_staff=staff
        )
        made.append((user, Token.objects.create(user=user).key))
    return made


SHADOWED = ("users-me", "user-detail")


def written_cases() -> list:
    """The demo's written parity cases of the shadowed routes with a safe method (the traffic replayed)."""
    cases = load_cases(REPO / "tests" / "parity" / "cases", routes=list(SHADOWED))
    return [c for c in cases if c.method in ("GET", "HEAD", "OPTIONS") and not c.setup_sql]


def traffic(front: str, users: list[tuple[User, str]]) -> int:
    """The written cases' safe requests on the shadowed routes, replayed through the front door as
    traffic (token cases as one of ``users``: the staff one for the fixture's staff user ``demo``), then
    a few more of the same kinds; how many requests a shadowed route took."""
    sent = 0
    staff, member = users[-1][1], users[0][1]
    with httpx.Client(base_url=front, timeout=10) as client:
        cases = written_cases()
        assert len(cases) >= 20
        for case in cases:
            headers = dict(case.headers)
            if case.auth.scheme == "token":
                headers.setdefault("Authorization", f"Token {staff if case.auth.user == 'demo' else member}")
            response = client.request(case.method, case.path, params=list(case.query), headers=headers)
            assert response.status_code < 500, (case.key, response.status_code)
            # a case whose path no shadowed route takes (`/api/users/me` without its slash) is not copied
            sent += response.headers["x-cutover-route"] in SHADOWED
        for user, key in users:
            auth = {"Authorization": f"Token {key}"}
            for path in ("/api/users/me/", f"/api/users/{user.pk}/", f"/api/users/{users[0][0].pk}/",
                         "/api/users/999999/", "/api/users/me/?format=json"):  # fmt: skip
                for method in ("GET", "HEAD", "OPTIONS"):
                    response = client.request(method, path, headers=auth)
                    assert response.status_code < 500 and response.headers["x-cutover-backend"] == "legacy"
                    sent += 1
        for path in ("/api/users/me/", "/api/users/1/"):  # anonymous: the legacy's 401
            assert client.get(path).status_code == 401
            sent += 1
    return sent


def replayed(legacy: str, modern: str, make_front_door, users, store: Path) -> tuple[int, dict]:
    """The written cases replayed through a front door shadowing users-me and user-detail at 100%, the
    comparator in its own process; (requests sent, the comparator's figures once it compared them)."""
    port = free_port()
    service = comparator(legacy, modern, store, port)
    try:
        door = make_front_door(shadowed(legacy, modern, port, {"users-me": 100, "user-detail": 100}))
        sent = traffic(door.url, users)
        return sent, settled(port, sent)
    finally:
        service.stop()


def test_the_unaltered_port_reports_no_difference_and_the_store_holds_no_secret(
    django_server,
    port_server,
    make_front_door,
    users,
    tmp_path,
):
    modern, seen = port_server()
    store = tmp_path / "shadow.sqlite3"
    sent, status = replayed(django_server, modern, make_front_door, users, store)
    code, data = report(store)
    found = routes_of(data)
    assert code == 0, data
    assert set(found) == {"users-me", "user-detail"}
    assert sum(r["mirrored"] for r in found.values()) == sent == status["received"]
    assert sum(r["compared"] for r in found.values()) == sent
    assert all(r["different"] == 0 and r["errors"] == 0 for r in found.values()), found
    raw = store.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("shadow.sqlite3-*"))
    for _, key in users:
        assert key.encode() not in raw
    assert PASSWORD.encode() not in raw
    assert "GET /api/users/me/" in seen.read_text()  # the port was asked: the check is not vacuous


def test_a_port_altered_on_one_field_of_one_route_is_reported_there_and_nowhere_else(
    django_server,
    port_server,
    make_front_door,
    users,
    tmp_path,
):
    modern, _ = port_server(alter="/api/users/me/:email")
    store = tmp_path / "shadow.sqlite3"
    replayed(django_server, modern, make_front_door, users, store)
    code, data = report(store)
    found = routes_of(data)
    assert code == 1
    assert [f["path"] for f in found["users-me"]["differing"]] == ["body.email"]
    assert found["user-detail"]["differing"] == [] and found["user-detail"]["different"] == 0
    example = found["users-me"]["differing"][0]["examples"][0]
    assert example["candidate"].startswith("altered-") and not example["primary"].startswith("altered-")


@pytest.fixture(scope="module")
def fast_django_server(django_db_setup, django_db_blocker) -> Iterator[str]:
    """gunicorn serving the demo's Django with a fast password hasher (fast_hashing_settings.py)."""
    with django_db_blocker.unblock():
        env = database_env(DJANGO_SETTINGS_MODULE="tests.cutover.shadow.fast_hashing_settings")
    port = free_port()
    argv = python_module(
        "gunicorn", "legacy_django.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--worker-class", "gthread", "--threads", "4",
    )  # fmt: skip
    server = Server(argv, env, f"http://127.0.0.1:{port}/api/users/")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


def test_writes_through_a_fully_shadowed_route_write_once_and_never_reach_the_port(
    fast_django_server,
    port_server,
    make_front_door,
    users,
    tmp_path,
):
    modern, seen = port_server()
    store, port = tmp_path / "shadow.sqlite3", free_port()
    service = comparator(fast_django_server, modern, store, port)
    staff_key = users[-1][1]
    before = seen.read_text().splitlines()
    assert before == ["GET /api/users/"]  # wait_until_serving's probe
    hashed = make_password(PASSWORD)  # once: 50 PBKDF2 hashes would take half a minute
    victims = User.objects.bulk_create(
        User(username=f"victim-{n}", email=f"v{n}@example.com", password=hashed) for n in range(50)
    )
    try:
        door = make_front_door(shadowed(fast_django_server, modern, port, {"users": 100, "user-detail": 100}))
        with httpx.Client(
            base_url=door.url, timeout=10, headers={"Authorization": f"Token {staff_key}"}
        ) as c:
            for n in range(50):
                body = {"username": f"signup-{n}", "email": f"s{n}@example.com", "password": PASSWORD}
                assert c.post("/api/users/", json=body).status_code == 201
            for n, victim in enumerate(victims):
                assert c.patch(f"/api/users/{victim.pk}/", json={"first_name": f"P{n}"}).status_code == 200
                put = {"username": victim.username, "email": victim.email, "password": PASSWORD}
                assert c.put(f"/api/users/{victim.pk}/", json=put).status_code == 200
                assert c.delete(f"/api/users/{victim.pk}/").status_code == 204
        status = settled(port, 0, timeout=5)
    finally:
        service.stop()
    assert User.objects.filter(username__startswith="signup-").count() == 50  # each written once
    assert not User.objects.filter(username__startswith="victim-").exists()  # each deleted once, by legacy
    assert status.get("received", 0) == 0 and status.get("refused", 0) == 0  # no copy of a write at all
    assert seen.read_text().splitlines() == before  # the port saw nothing (but the start's health check)


@pytest.mark.parametrize("state", ["slow", "stopped"])
def test_a_slow_or_stopped_comparator_changes_nothing_for_the_client(
    django_server,
    port_server,
    make_front_door,
    users,
    tmp_path,
    state,
):
    modern, _ = port_server()
    store, port = tmp_path / "shadow.sqlite3", free_port()
    # slow: every comparison takes 2 s more (slow_comparator.py); stopped: nobody listens on its port
    service = comparator(django_server, modern, store, port, slow=True) if state == "slow" else None
    try:
        door = make_front_door(shadowed(django_server, modern, port, {"users-me": 100}))
        user, key = users[0]
        with door.client(headers={"Authorization": f"Token {key}"}) as client:
            answers = [client.get("/api/users/me/") for _ in range(100)]
    finally:
        if service is not None:
            service.stop()
    assert [a.status_code for a in answers] == [200] * 100
    assert {a.json()["username"] for a in answers} == {user.username}
    assert {a.headers["x-cutover-backend"] for a in answers} == {"legacy"}
