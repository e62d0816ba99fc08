"""`cutover up` (what `make run` runs): the stack comes up on a real database and stops without orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.shared_db.test_embedded import servers_using


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"{url} never answered")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_up_serves_the_seeded_api_and_a_signal_stops_everything(tmp_path: Path, stop_signal: int):
    data_dir = tmp_path / "pg"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # exercise the embedded default
    env["CUTOVER_LEGACY_PORT"] = str(port)
    env.update({k: str(free_port()) for k in ("CUTOVER_MODERN_PORT", "CUTOVER_PROXY_PORT")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "cutover", "up", "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(f"{base}/api/users/", proc).status_code == 401
        token = httpx.post(
            f"{base}/api/auth/token/", json={"username": "demo", "password": "demo-password-123"}
        ).json()["token"]
        page = httpx.get(f"{base}/api/users/", headers={"Authorization": f"Token {token}"}).json()
        assert page["count"] == 201
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "gunicorn should be running"
        assert servers_using(data_dir), "the embedded server should be running"
    finally:
        proc.send_signal(stop_signal)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "demo / demo-password-123" in output
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert servers_using(data_dir) == []
