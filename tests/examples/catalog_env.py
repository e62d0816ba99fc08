"""The catalog example's own world for the tests: its virtualenv, a database of its own, its servers.

The example runs Django 4.2 (the repository's own environment has 5.2), so it gets virtualenvs of its
own under ``.data/venvs/``, keyed by a digest of what goes into them and the Python version, built once
(under a file lock, for concurrent runs) and reused: ``catalog-*`` from ``requirements.txt`` alone (the
apps), ``catalog-toolkit-*`` with the toolkit installed too (the end-to-end tests). Every command of the
example runs in one of them, in ``examples/catalog``, as a team would run it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from cutover.dburl import DatabaseURL
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "examples" / "catalog"
REQUIREMENTS = PROJECT / "requirements.txt"
VENVS = REPO / ".data" / "venvs"
FIXTURE = PROJECT / "fixtures" / "catalog.json"
INSTALL_TIMEOUT = 900  # seconds: a first install from PyPI on a slow day


def toolkit_requirements() -> list[str]:
    """The toolkit's own dependencies and extras, as pyproject.toml declares them."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["generated"]]


def _pip(target: Path, *args: str) -> None:
    subprocess.run(
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *args,
        ],
        check=True,
        timeout=INSTALL_TIMEOUT,
    )


def _ensure(name: str, key: bytes, install: Callable[[Path], None]) -> Path:
    """A virtualenv under .data/venvs keyed by ``key``, built once (under a file lock); its ``bin``."""
    target = VENVS / f"{name}-{hashlib.sha256(key + sys.version.encode()).hexdigest()[:12]}"
    done = target / ".complete"
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)  # a build that was interrupted
            subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=120)
            install(target)
            done.write_bytes(key)
    return target / "bin"


def ensure_venv() -> Path:
    """The example's own virtualenv: ``pip install -r requirements.txt``, nothing else."""
    return _ensure("catalog", REQUIREMENTS.read_bytes(), lambda target: _pip(target, "-r", str(REQUIREMENTS)))


def ensure_toolkit_venv() -> Path:
    """The example's virtualenv with the toolkit installed from this repository, as a team would have it.

    One ``pip install`` of the project's requirements and the toolkit with its ``generated`` extra, resolved
    together, the toolkit's own dependencies included: nothing of it may change the project's pins.
    Editable, so that it runs the toolkit as checked out now (the virtualenv is rebuilt when what the
    toolkit declares changes)."""

    def install(target: Path) -> None:
        _pip(target, "-r", str(REQUIREMENTS), "-e", f"{REPO}[generated]")

    key = REQUIREMENTS.read_bytes() + "\n".join(toolkit_requirements()).encode()
    return _ensure("catalog-toolkit", key, install)


@contextlib.contextmanager
def scratch_database(server: DatabaseURL, prefix: str) -> Iterator[DatabaseURL]:
    """A new, empty database on ``server``, dropped afterwards whatever is still connected to it."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = server.with_name("postgres").libpq()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.with_name(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def project_env(bin_dir: Path, database: DatabaseURL, secret_key: str, **extra: str) -> dict[str, str]:
    """The environment both apps run with: nothing of the repository's own environment leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(bin_dir.parent),
        DATABASE_URL=database.libpq(),
        SECRET_KEY=secret_key,
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def manage(
    bin_dir: Path, env: Mapping[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGS`` in the project, in its virtualenv; raises with the output on failure."""
    done = subprocess.run(
        [str(bin_dir / "python"), "manage.py", *args],
        cwd=PROJECT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the server's own process group, SIGKILL to what is left after 10 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_server(
    name: str,
    argv: list[str],
    env: Mapping[str, str],
    port: int,
    health: str,
    log: Path,
    cwd: Path = PROJECT,
    timeout: float = 60,
) -> Server:
    """Start a server in its own process group and wait until ``health`` answers (any status)."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}:\n{server.tail()}")
        try:
            httpx.get(server.url + health, timeout=2)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.stop()
                raise AssertionError(
                    f"{name} did not answer {health} within {timeout}s:\n{server.tail()}"
                ) from None
            time.sleep(0.1)


def gunicorn(bin_dir: Path, env: Mapping[str, str], log: Path) -> Server:
    port = free_port()
    argv = [
        str(bin_dir / "gunicorn"),
        "catalog_site.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        "1",
        "--threads",
        "4",
    ]
    return start_server("legacy (gunicorn)", argv, env, port, "/api/", log)


def uvicorn(bin_dir: Path, env: Mapping[str, str], log: Path, app: str = "catalog_api.main:app") -> Server:
    port = free_port()
    argv = [str(bin_dir / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port), "--no-proxy-headers"]
    return start_server(f"modern (uvicorn {app})", argv, env, port, "/api/products/", log)
