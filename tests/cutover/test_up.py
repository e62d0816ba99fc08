"""`cutover up` (what `make run` runs): the stack comes up on a real database and stops without orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.cutover.test_embedded import servers_using
from tests.ports import free_port


class Output:
    """Collects a process's output on a thread, so the test can wait for a line without blocking."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, proc: subprocess.Popen[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            assert proc.poll() is None, "".join(self.lines)
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never printed:\n{''.join(self.lines)}")

    def text(self, proc: subprocess.Popen[str]) -> str:
        self._thread.join(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
        return "".join(self.lines)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_up_serves_the_seeded_api_and_a_signal_stops_everything(tmp_path: Path, stop_signal: int):
    data_dir = tmp_path / "pg"
    ports = {name: free_port() for name in ("LEGACY", "MODERN", "PROXY", "METRICS", "DASHBOARD")}
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # exercise the embedded default
    env.update({f"CUTOVER_{name}_PORT": str(port) for name, port in ports.items()})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cutover",
            "up",
            "--data-dir",
            str(data_dir),
            "--proxy-dir",
            str(tmp_path / "nginx"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(proc)
    children: list[psutil.Process] = []
    try:
        output.wait_for("Ctrl-C stops everything.", proc)
        front = f"http://127.0.0.1:{ports['PROXY']}"
        token = httpx.post(
            f"{front}/api/auth/token/", json={"username": "demo", "password": "demo-password-123"}
        ).json()["token"]
        page = httpx.get(f"{front}/api/users/", headers={"Authorization": f"Token {token}"})
        assert page.json()["count"] == 201
        assert page.headers["X-Cutover-Route"] == "users"
        assert page.headers["X-Cutover-Backend"] == "legacy"
        modern = httpx.get(
            f"http://127.0.0.1:{ports['MODERN']}/api/users/me/", headers={"Authorization": f"Token {token}"}
        )
        assert modern.json()["username"] == "demo"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 3, "gunicorn, uvicorn and nginx should be running"
        assert servers_using(data_dir), "the embedded server should be running"
    finally:
        proc.send_signal(stop_signal)
        proc.wait(timeout=60)
    text = output.text(proc)
    assert proc.returncode == 0, text
    assert f"front door        http://127.0.0.1:{ports['PROXY']}/  (nginx)" in text
    assert "demo / demo-password-123" in text
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child
    assert servers_using(data_dir) == []
