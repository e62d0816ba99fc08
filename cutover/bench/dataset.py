"""The benchmark's own database, prepared as the project config says; never the development database.

In order, on the bench's database: the legacy's ``migrate``; ``[bench] seed`` (a management command,
``{users}`` replaced by ``--users``) if the config has one; then, in a child process with the project's
Django set up (:mod:`.prepare`), ``[bench] dataset`` (a factory returning the placeholders' values) if
the config has one, and the scenarios' identities minted as parity mints them. Nothing else is written.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from cutover.dburl import DatabaseURL
from cutover.embedded import embedded_database

from ..config import BenchScenario, ProjectConfig
from ..database import child_env, django_admin
from ..errors import CutoverError, last_line
from .prepare import MARKER
from .scenarios import SAFE_METHODS, Scenario, Values, check_values

__all__ = [
    "BENCH_DATA_DIR",
    "BENCH_MAX_CONNECTIONS",
    "Dataset",
    "bench_database",
    "ensure_max_connections",
    "prepare_dataset",
    "seed_command",
]

# Apart from .data/postgres (the development database) on purpose: the bench writes into its database.
BENCH_DATA_DIR = Path(".data") / "bench-postgres"


@dataclass(frozen=True)
class Dataset:
    """What the scenarios need of the prepared database: the placeholders' values and the credentials."""

    url: DatabaseURL
    values: Values = field(default_factory=dict)
    credentials: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # identity -> minted
    csrf: Mapping[str, Any] = field(default_factory=dict)

    def headers(self, identity: str | None, method: str) -> list[tuple[str, str]]:
        """What a request as ``identity`` carries, as parity sends it: the credential's headers; with
        cookies, the CSRF cookie too and, on an unsafe method, the CSRF header."""
        if identity is None:
            return []
        minted = self.credentials[identity]
        headers = [(k, v) for k, v in minted["headers"]]
        cookies = [(k, v) for k, v in minted["cookies"]]
        if cookies:
            if self.csrf.get("cookie"):
                cookies.append((self.csrf["cookie"], self.csrf["secret"]))
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies)))
            if method not in SAFE_METHODS and self.csrf.get("token"):
                headers.append((self.csrf["header"], self.csrf["token"]))
        return headers

    def scenario(self, config: BenchScenario, where: str = "the project config") -> Scenario:
        return Scenario.make(config, self.values, self.headers(config.identity, config.method), where)

    def describe(self) -> str:
        """One line for the report: each value, or how many items each list has."""
        parts = [
            f"{k}: {len(v):,} values" if isinstance(v, list | tuple) else f"{k}: {v!r}"
            for k, v in self.values.items()
        ]
        return "; ".join(parts) or "no dataset values"


@contextmanager
def bench_database(url: DatabaseURL | None, data_dir: Path = BENCH_DATA_DIR) -> Iterator[DatabaseURL]:
    """``url`` if given, else an embedded server of the benchmark's own in ``data_dir`` (stopped on exit)."""
    if url is None and Path(data_dir).absolute() == (Path(".data") / "postgres").absolute():
        raise CutoverError("the benchmark never runs on the development database (.data/postgres)")
    source = nullcontext(url) if url is not None else embedded_database(data_dir, name="bench")
    with source as ready:
        assert ready is not None
        if url is None:
            ensure_max_connections(ready, Path(data_dir))
        yield ready


# Every benchmarked stack runs at once, each with the pools it is tuned for a far database
# (docs/performance.md, the budget): more than PostgreSQL's default 100 connections. The bench's own
# server is sized for that; a server given with --database-url is left as it is (its limit is reported).
BENCH_MAX_CONNECTIONS = 300


def ensure_max_connections(url: DatabaseURL, data_dir: Path, wanted: int = BENCH_MAX_CONNECTIONS) -> None:
    """Raise the embedded server's ``max_connections`` to ``wanted`` (a restart) unless it is there."""
    with psycopg.connect(url.libpq(), autocommit=True) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
        if row is not None and int(row[0]) >= wanted:
            return
        conn.execute(f"ALTER SYSTEM SET max_connections = {int(wanted)}")
    data_dir = data_dir.absolute()
    try:
        postgres = shlex.split((data_dir / "postmaster.opts").read_text())[0]
    except (OSError, IndexError) as exc:
        raise CutoverError(f"cannot restart the bench database to raise max_connections: {exc}") from None
    pg_ctl = str(Path(postgres).with_name("pg_ctl"))
    owner = data_dir.stat().st_uid
    # pg_ctl runs as the data directory's owner (PostgreSQL refuses root), its server's output to a log
    # file: a pipe would be held open by the server and never end.
    proc = subprocess.run(
        [pg_ctl, "-D", str(data_dir), "-w", "-m", "fast", "-l", str(data_dir / "restart.log"), "restart"],
        capture_output=True,
        text=True,
        timeout=120,
        user=owner if os.geteuid() == 0 and owner != 0 else None,
    )
    if proc.returncode != 0:
        raise CutoverError(
            f"restarting the bench database to raise max_connections failed: {last_line(proc.stderr)}"
        )


def seed_command(seed: str, users: int) -> list[str]:
    """``[bench] seed`` as arguments for ``django-admin``, ``{users}`` replaced by the ``--users`` count."""
    return shlex.split(seed.replace("{users}", str(users)))


def prepare_dataset(url: DatabaseURL, project: ProjectConfig, users: int = 10_000) -> Dataset:
    """Migrate, seed, call the dataset factory and mint the identities (see the module docstring)."""
    bench = project.bench
    django_admin(url, project, "migrate", "--noinput")
    if bench.seed:
        django_admin(url, project, *seed_command(bench.seed, users))
    identities = sorted({s.identity for s in bench.scenarios if s.identity})
    if not identities and not bench.dataset:
        return Dataset(url)
    request = {
        "root": str(project.root),
        "dataset": bench.dataset,
        "schemes": dict(project.identities),
        "identities": identities,
    }
    raw = _run_prepare(url, project, request)
    values = check_values(raw.get("values"), f"the bench dataset {bench.dataset}")
    return Dataset(url, values, raw.get("credentials", {}), raw.get("csrf", {}))


def _run_prepare(url: DatabaseURL, project: ProjectConfig, request: Mapping[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "cutover.bench.prepare"],
        input=json.dumps(request),
        env=child_env(url, project),
        cwd=project.root,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise CutoverError(f"preparing the bench database failed: {last_line(proc.stderr)}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line[len(MARKER) :])
            return result
    raise CutoverError(f"preparing the bench database printed no result: {last_line(proc.stdout)}")


def scenarios_for(dataset: Dataset, project: ProjectConfig, names: Sequence[str]) -> list[Scenario]:
    """The named scenarios, in the config's order, made concrete with the dataset."""
    return [dataset.scenario(s, project.where) for s in project.bench.scenarios if s.name in names]
