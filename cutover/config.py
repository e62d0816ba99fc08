"""The project config: every fact about the team's project that the toolkit needs, read once.

Where it comes from, first found wins: ``--config PATH``, ``$CUTOVER_CONFIG``, else from the working
directory upward (as pytest and ruff look for theirs) the first ``cutover.toml`` or ``pyproject.toml``
with a ``[tool.cutover]`` table. A project without either is read as an empty config (every default)
rooted at the nearest directory holding ``manage.py``.

Relative paths in the config are relative to the directory of the file that holds it (the project root).
Import strings are ``module:attribute`` (``module.attribute`` is accepted for Django's own dotted
settings such as ``WSGI_APPLICATION``) and are resolved only when used, with the project root importable.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CutoverError

__all__ = [
    "AuditConfig",
    "BenchConfig",
    "BenchScenario",
    "ConfigError",
    "DashboardConfig",
    "DatabaseConfig",
    "GateConfig",
    "LegacyConfig",
    "ModernConfig",
    "ParityConfig",
    "ProjectConfig",
    "PromoteConfig",
    "ProxyConfig",
    "SchemaConfig",
    "ShadowConfig",
    "find_config",
    "load_config",
]

ENV_VAR = "CUTOVER_CONFIG"
FILE_NAME = "cutover.toml"
DEFAULT_SHADOW_STORE = Path(".data") / "shadow.sqlite3"
# The audit log outlives `make clean` and the stack's runtime files: it sits with the parity report.
DEFAULT_AUDIT_STORE = Path(".cutover") / "audit.sqlite3"
_POSTGRES_URL = re.compile(r"^postgres(ql)?(\+\w+)?://")
IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*[:.][A-Za-z_][\w.]*$")
_SETTINGS_IN_MANAGE_PY = re.compile(
    r"""os\.environ\.setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']\s*\)"""
)
BUILTIN_SCHEMES = ("token", "session", "jwt", "basic")


class ConfigError(CutoverError):
    """The project config is wrong: one line naming the file, the key and what is expected."""


@dataclass(frozen=True)
class LegacyConfig:
    settings: str | None = None  # the Django settings module; None: DJANGO_SETTINGS_MODULE, else manage.py
    wsgi: str | None = None  # None: the settings' WSGI_APPLICATION
    command: str | None = None  # a whole start command with {host} and {port}; None: gunicorn on wsgi
    args: tuple[str, ...] = ()  # extra arguments for the default gunicorn command
    health: str = "/"  # a path that answers (any status) once the server is up


@dataclass(frozen=True)
class ModernConfig:
    asgi: str | None = None  # module:attribute of the port's ASGI app
    command: str | None = None  # None: uvicorn on asgi
    args: tuple[str, ...] = ()  # extra arguments for the default uvicorn command
    health: str = "/"


@dataclass(frozen=True)
class DatabaseConfig:
    # None: migrate the embedded and throwaway databases the toolkit starts, never an explicit DATABASE_URL.
    migrate: bool | None = None
    seed: str | None = None  # a management command (with its arguments) to run after migrating

    def migrates(self, *, explicit_url: bool) -> bool:
        """Whether to run the legacy's migrations on a database (``explicit_url``: the user's own)."""
        return self.migrate if self.migrate is not None else not explicit_url


@dataclass(frozen=True)
class ProxyConfig:
    manifest: Path
    front_door: str = "nginx"  # what `cutover up` runs in front of both apps: "nginx" or "envoy"


@dataclass(frozen=True)
class SchemaConfig:
    models: str | None = None  # module:attribute of the port's SQLAlchemy declarative base (or MetaData)


@dataclass(frozen=True)
class ParityConfig:
    cases: Path
    rules: Path
    report: Path
    fixture: tuple[str, ...] = ()  # Django fixture files, .sql files or module:function factories
    tables: tuple[str, ...] | None = None  # None: every table of the project's own apps' models
    hashed: tuple[str, ...] | None = None  # None: the user model's password column
    blocking: str = "fail"  # a blocking call on the port's event loop: "fail" (not green) or "warn"
    generated: int = 40  # cases generated from the OpenAPI schema per run; `cutover parity --generated` wins


@dataclass(frozen=True)
class ShadowConfig:
    """Shadow comparisons of live traffic (docs/shadow.md): where results go and when a field differs."""

    store: Path  # the SQLite file results go to when ``database`` is not set
    database: str | None = None  # a PostgreSQL URL: one store for several front doors
    # A field is reported as a difference only where primary and candidate differ clearly more often than
    # two calls of the legacy do: by at least ``absolute`` (a rate) and by ``relative`` of its own rate.
    absolute_threshold: float = 0.01
    relative_threshold: float = 0.2
    keep: int = 100  # per route, the latest differences kept with their values; counters for the rest
    queue: int = 1000  # copies waiting to be compared; beyond it, copies are dropped and counted
    workers: int = 4  # comparisons in flight at once

    @property
    def url(self) -> str:
        """The store's SQLAlchemy URL."""
        return self.database if self.database else f"sqlite:///{self.store}"


@dataclass(frozen=True)
class GateConfig:
    """What a move toward modern needs besides a green parity report (docs/cutover.md, the gate)."""

    shadow_min_compared: int | None = None  # None: shadow results are not read
    shadow_max_different_rate: float = 0.0


@dataclass(frozen=True)
class AuditConfig:
    """Where every move is recorded (docs/dashboard.md, the audit log)."""

    store: Path  # the SQLite file, when ``database`` is not set
    database: str | None = None  # a PostgreSQL URL: one log for every operator and machine

    @property
    def url(self) -> str:
        return self.database if self.database else f"sqlite:///{self.store}"


@dataclass(frozen=True)
class PromoteConfig:
    """What `cutover promote` judges each step by (docs/promote.md): modern against legacy, same route, same
    window."""

    steps: tuple[int, ...] = (5, 25, 50, 100)  # canary percentages; 100 moves the route to modern
    interval: float = 60.0  # seconds of traffic measured before each step
    min_requests: int = 50  # per backend in a window, to judge at all
    max_waits: int = 3  # further intervals to wait for enough requests before ending inconclusive
    max_error_rate_increase: float = 0.01  # modern's 5xx share may exceed legacy's by this much
    max_p99_ratio: float = 1.5  # modern's p99 at most this times legacy's ...
    p99_slack: float = 0.05  # ... plus this many seconds (a 2 ms against 1 ms p99 is no breach)
    max_shadow_different_rate: float = 0.0  # where the route is shadowed: differing share in the window


@dataclass(frozen=True)
class DashboardConfig:
    """`cutover dashboard` (started by `cutover up` too)."""

    host: str = "127.0.0.1"
    port: int = 8004
    refresh: float = 5.0  # seconds between the page's refreshes
    history: float = 3600.0  # seconds of traffic the charts show


@dataclass(frozen=True)
class BenchScenario:
    """One request the benchmark loads every target with (docs/config.md, ``[[bench.scenarios]]``)."""

    name: str
    method: str
    path: str  # may hold {placeholders}: {n}, {unique} and the dataset's values
    identity: str | None = None  # SCHEME:USER, minted as parity mints a case's auth
    body: Mapping[str, Any] | None = None  # sent as JSON; placeholders in its strings
    status: int = 200  # what every answer must be: the preflight checks it, wrk counts others as errors
    concurrency: tuple[int, ...] | None = None  # None: the bench's levels (--concurrency)
    warmup: int | None = None  # seconds; None: the bench's (--warmup)
    duration: int | None = None  # seconds; None: the bench's (--duration)
    headline: bool = False  # the scenario the targets are checked on (else the first)


@dataclass(frozen=True)
class BenchConfig:
    scenarios: tuple[BenchScenario, ...] = ()
    seed: str | None = None  # a management command run on the bench's own database after migrating
    dataset: str | None = None  # module:function returning the placeholders' values
    floor: str | None = None  # module:attribute of an idealised ASGI app to compare against
    # The database's distance for `cutover bench --db-latency` (round trips like "5ms"); None: "0" only.
    db_latency: tuple[str, ...] | None = None
    threads: int | None = None  # gunicorn gthread threads per legacy worker; None: the bench's (4)
    env: Mapping[str, str] = field(default_factory=dict)  # for every benchmarked server (the apps' pools)

    @property
    def headline(self) -> BenchScenario | None:
        """The scenario the targets are checked on: the one marked ``headline``, else the first."""
        return next((s for s in self.scenarios if s.headline), self.scenarios[0] if self.scenarios else None)


@dataclass(frozen=True)
class ProjectConfig:
    root: Path
    source: Path | None  # the file it was read from; None when the project has none
    legacy: LegacyConfig
    modern: ModernConfig
    database: DatabaseConfig
    proxy: ProxyConfig
    parity: ParityConfig
    schema: SchemaConfig = SchemaConfig()
    identities: Mapping[str, str] = field(default_factory=dict)  # scheme name -> module:function
    bench: BenchConfig = BenchConfig()
    shadow: ShadowConfig = None  # type: ignore[assignment]  # None: the defaults under root
    gate: GateConfig = GateConfig()
    audit: AuditConfig = None  # type: ignore[assignment]  # None: the default under root
    promote: PromoteConfig = PromoteConfig()
    dashboard: DashboardConfig = DashboardConfig()
    notes: tuple[str, ...] = ()  # extra lines for `cutover up`'s banner (where to log in, say)

    def __post_init__(self) -> None:
        if self.shadow is None:
            object.__setattr__(self, "shadow", ShadowConfig(store=self.root / DEFAULT_SHADOW_STORE))
        if self.audit is None:
            object.__setattr__(self, "audit", AuditConfig(store=self.root / DEFAULT_AUDIT_STORE))

    def pythonpath(self, environ: Mapping[str, str] = os.environ) -> str:
        """PYTHONPATH for the project's processes: its root first, so its packages import as in manage.py."""
        rest = environ.get("PYTHONPATH", "")
        return os.pathsep.join([str(self.root), *([rest] if rest else [])])

    def settings_module(self, environ: Mapping[str, str] = os.environ) -> str:
        """The legacy's settings module: the config's, else DJANGO_SETTINGS_MODULE, else manage.py's."""
        if self.legacy.settings:
            return self.legacy.settings
        if environ.get("DJANGO_SETTINGS_MODULE"):
            return environ["DJANGO_SETTINGS_MODULE"]
        manage = self.root / "manage.py"
        found = _SETTINGS_IN_MANAGE_PY.search(manage.read_text()) if manage.is_file() else None
        if found is None:
            raise ConfigError(
                f"cannot tell the Django settings module: set [legacy] settings in {self.where}, "
                "or DJANGO_SETTINGS_MODULE"
            )
        return found.group(1)

    @property
    def where(self) -> str:
        return str(self.source) if self.source is not None else f"{self.root / FILE_NAME} (not present)"


def find_config(
    start: Path | None = None, explicit: Path | None = None, environ: Mapping[str, str] = os.environ
) -> tuple[Path | None, Path]:
    """The config file to read (None: the project has none) and the project root."""
    if explicit is None and environ.get(ENV_VAR):
        explicit = Path(environ[ENV_VAR])
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit, explicit.absolute().parent
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate, folder
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "cutover" in _read_toml(pyproject).get("tool", {}):
            return pyproject, folder
    for folder in (here, *here.parents):
        if (folder / "manage.py").is_file():
            return None, folder
    return None, here


def load_config(
    start: Path | None = None, explicit: Path | None = None, environ: Mapping[str, str] = os.environ
) -> ProjectConfig:
    """Find and read the project config (see the module docstring); ConfigError names what is wrong."""
    path, root = find_config(start, explicit, environ)
    if path is None:
        return parse_config({}, root=root, source=None)
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("cutover", {})
    return parse_config(data, root=root, source=path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


class _Table:
    """One table of the config, read key by key with a precise error for a wrong type or unknown key."""

    def __init__(self, data: Any, name: str, where: str) -> None:
        self.name, self.where = name, where
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: [{name}] must be a table")
        self.data = data
        self.read: set[str] = set()

    def _get(self, key: str) -> Any:
        self.read.add(key)
        return self.data.get(key)

    def _wrong(self, key: str, expected: str) -> ConfigError:
        return ConfigError(f"{self.where}: [{self.name}] {key} must be {expected}, got {self.data[key]!r}")

    def string(self, key: str, default: str | None = None, *, pattern: re.Pattern[str] | None = None,
               expected: str = "a string") -> str | None:  # fmt: skip
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
            raise self._wrong(key, expected)
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._get(key)
        if value is not None and not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._wrong(key, "a list of strings")
        return tuple(value)

    def integers(self, key: str, low: int, high: int, expected: str) -> tuple[int, ...] | None:
        value = self._get(key)
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value)
        ):
            raise self._wrong(key, expected)
        return tuple(value)

    def count(self, key: str, default: int) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._wrong(key, "an integer >= 0")
        return value

    def number(self, key: str, default: float, low: float, high: float, *, integer: bool = False) -> float:
        value = self._get(key)
        if value is None:
            return default
        kind = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            raise self._wrong(key, f"{'an integer' if integer else 'a number'} in {low:g}..{high:g}")
        return value

    def path(self, key: str, default: str, root: Path) -> Path:
        value = self.string(key, default)
        assert value is not None
        return root / value

    def table(self, key: str) -> Mapping[str, Any]:
        value = self._get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._wrong(key, "a table")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            known = ", ".join(sorted(self.read))
            place = f"[{self.name}] has no key" if self.name else "has no table"
            raise ConfigError(f"{self.where}: {place} {unknown[0]!r} (known: {known})")


def parse_config(data: Mapping[str, Any], *, root: Path, source: Path | None) -> ProjectConfig:
    """Validate the config's tables (``data``: the document, or ``[tool.cutover]``) into a ProjectConfig."""
    where = str(source) if source is not None else "the project config"
    top = _Table(data, "", where)

    def section(name: str) -> _Table:
        return _Table(top.table(name), name, where)

    legacy = section("legacy")
    legacy_config = LegacyConfig(
        settings=legacy.string(
            "settings", pattern=re.compile(r"^[A-Za-z_][\w.]*$"), expected="a module name"
        ),
        wsgi=legacy.string(
            "wsgi", pattern=IMPORT_STRING, expected="an import string like 'project.wsgi:app'"
        ),
        command=_command(legacy, where),
        args=legacy.strings("args") or (),
        health=_health(legacy),
    )
    legacy.done()

    modern = section("modern")
    modern_config = ModernConfig(
        asgi=modern.string(
            "asgi", pattern=IMPORT_STRING, expected="an import string like 'service.main:app'"
        ),
        command=_command(modern, where),
        args=modern.strings("args") or (),
        health=_health(modern),
    )
    modern.done()

    database = section("database")
    database_config = DatabaseConfig(migrate=database.boolean("migrate"), seed=database.string("seed"))
    database.done()

    proxy = section("proxy")
    proxy_config = ProxyConfig(
        manifest=proxy.path("manifest", "routes.toml", root),
        front_door=proxy.string(
            "front_door", "nginx", pattern=re.compile(r"^(nginx|envoy)$"), expected="'nginx' or 'envoy'"
        )
        or "nginx",
    )
    proxy.done()

    parity = section("parity")
    parity_config = ParityConfig(
        cases=parity.path("cases", "parity/cases", root),
        rules=parity.path("rules", "parity/rules.toml", root),
        report=parity.path("report", ".cutover/parity-report.json", root),
        fixture=parity.strings("fixture") or (),
        tables=parity.strings("tables"),
        hashed=parity.strings("hashed"),
        blocking=parity.string(
            "blocking", "fail", pattern=re.compile(r"^(fail|warn)$"), expected="'fail' or 'warn'"
        )
        or "fail",
        generated=parity.count("generated", ParityConfig.generated),
    )
    parity.done()

    identities = section("identities")
    schemes = _schemes(identities.table("schemes"), where)
    identities.done()

    schema = section("schema")
    schema_config = SchemaConfig(
        models=schema.string(
            "models", pattern=IMPORT_STRING, expected="an import string like 'service.models:Base'"
        )
    )
    schema.done()

    up = section("up")
    notes = up.strings("notes") or ()
    up.done()

    bench = section("bench")
    bench_config = _bench(bench, where)
    bench.done()

    shadow = section("shadow")
    shadow_config = ShadowConfig(
        store=shadow.path("store", str(DEFAULT_SHADOW_STORE), root),
        database=shadow.string("database", pattern=_POSTGRES_URL, expected="a postgresql:// URL"),
        absolute_threshold=shadow.number("absolute_threshold", 0.01, 0.0, 1.0),
        relative_threshold=shadow.number("relative_threshold", 0.2, 0.0, 1.0),
        keep=int(shadow.number("keep", 100, 1, 100_000, integer=True)),
        queue=int(shadow.number("queue", 1000, 1, 1_000_000, integer=True)),
        workers=int(shadow.number("workers", 4, 1, 256, integer=True)),
    )
    shadow.done()

    gate = section("gate")
    min_compared = gate.number("shadow_min_compared", -1, 0, 10**9, integer=True)
    gate_config = GateConfig(
        shadow_min_compared=None if min_compared == -1 else int(min_compared),
        shadow_max_different_rate=gate.number("shadow_max_different_rate", 0.0, 0.0, 1.0),
    )
    gate.done()

    audit = section("audit")
    audit_config = AuditConfig(
        store=audit.path("store", str(DEFAULT_AUDIT_STORE), root),
        database=audit.string("database", pattern=_POSTGRES_URL, expected="a postgresql:// URL"),
    )
    audit.done()

    promote = section("promote")
    defaults = PromoteConfig()
    steps = promote.integers("steps", 1, 100, "ascending percentages in 1..100")
    if steps is not None and list(steps) != sorted(set(steps)):
        raise ConfigError(
            f"{where}: [promote] steps must be ascending percentages in 1..100 (got {list(steps)})"
        )
    promote_config = PromoteConfig(
        steps=steps or defaults.steps,
        interval=promote.number("interval", defaults.interval, 1.0, 86_400.0),
        min_requests=int(promote.number("min_requests", defaults.min_requests, 1, 10**9, integer=True)),
        max_waits=int(promote.number("max_waits", defaults.max_waits, 0, 1000, integer=True)),
        max_error_rate_increase=promote.number(
            "max_error_rate_increase", defaults.max_error_rate_increase, 0.0, 1.0
        ),
        max_p99_ratio=promote.number("max_p99_ratio", defaults.max_p99_ratio, 1.0, 1000.0),
        p99_slack=promote.number("p99_slack", defaults.p99_slack, 0.0, 60.0),
        max_shadow_different_rate=promote.number(
            "max_shadow_different_rate", defaults.max_shadow_different_rate, 0.0, 1.0
        ),
    )
    promote.done()

    dashboard = section("dashboard")
    dashboard_config = DashboardConfig(
        host=dashboard.string("host", "127.0.0.1") or "127.0.0.1",
        port=int(dashboard.number("port", 8004, 1, 65535, integer=True)),
        refresh=dashboard.number("refresh", 5.0, 1.0, 3600.0),
        history=dashboard.number("history", 3600.0, 60.0, 7 * 86_400.0),
    )
    dashboard.done()
    top.done()
    return ProjectConfig(
        root=root,
        source=source,
        legacy=legacy_config,
        modern=modern_config,
        database=database_config,
        proxy=proxy_config,
        parity=parity_config,
        schema=schema_config,
        identities=schemes,
        bench=bench_config,
        shadow=shadow_config,
        gate=gate_config,
        audit=audit_config,
        promote=promote_config,
        dashboard=dashboard_config,
        notes=notes,
    )


def _command(table: _Table, where: str) -> str | None:
    command = table.string("command")
    if command is not None and "{port}" not in command:
        raise ConfigError(f"{where}: [{table.name}] command must contain {{port}} (and may contain {{host}})")
    return command


def _health(table: _Table) -> str:
    health = table.string("health", "/", pattern=re.compile(r"^/"), expected="a path starting with '/'")
    assert health is not None
    return health


def _schemes(raw: Mapping[str, Any], where: str) -> dict[str, str]:
    schemes: dict[str, str] = {}
    for name, target in raw.items():
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
            raise ConfigError(
                f"{where}: [identities.schemes] {name!r} is not a scheme name (lowercase, -, _)"
            )
        if name in BUILTIN_SCHEMES:
            raise ConfigError(f"{where}: [identities.schemes] {name!r} is built in; give yours another name")
        if not isinstance(target, str) or not IMPORT_STRING.match(target):
            raise ConfigError(
                f"{where}: [identities.schemes] {name} must be 'module:function', got {target!r}"
            )
        schemes[name] = target
    return schemes


def _list(table: _Table, key: str, where: str) -> Sequence[Any]:
    table.read.add(key)
    value = table.data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(
            f"{where}: [{table.name}] {key} must be an array of tables ([[{table.name}.{key}]])"
        )
    return value


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _bench(table: _Table, where: str) -> BenchConfig:
    scenarios = tuple(
        _scenario(raw, index, where) for index, raw in enumerate(_list(table, "scenarios", where))
    )
    names = [s.name for s in scenarios]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise ConfigError(f"{where}: [[bench.scenarios]] name {twice!r} is used twice")
    if sum(s.headline for s in scenarios) > 1:
        raise ConfigError(f"{where}: [[bench.scenarios]] headline = true is set on more than one scenario")
    return BenchConfig(
        scenarios=scenarios,
        seed=table.string("seed", expected="a management command with its arguments"),
        dataset=table.string(
            "dataset", pattern=IMPORT_STRING, expected="an import string like 'bench.data:build'"
        ),
        floor=table.string(
            "floor", pattern=IMPORT_STRING, expected="an import string like 'bench.floor:app'"
        ),
        db_latency=_latencies(table, "db_latency"),
        threads=_integer(table, "threads", 1, 1024, "a number of threads in 1..1024"),
        env=_environment(table, "env"),
    )


def _latencies(table: _Table, key: str) -> tuple[str, ...] | None:
    # Parsed (units, range) by `cutover bench`, which names this key in its error.
    value = table._get(key)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    ):
        raise table._wrong(key, 'a list of round-trip times like ["0", "1ms", "5ms"]')
    return tuple(str(v) for v in value)


def _environment(table: _Table, key: str) -> Mapping[str, str]:
    value = table.table(key)
    if not all(isinstance(k, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) for k in value) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value.values()
    ):
        raise table._wrong(key, 'a table of environment variables (NAME = "value")')
    return {k: str(v) for k, v in value.items()}


def _scenario(raw: Any, index: int, where: str) -> BenchScenario:
    table = _Table(raw, f"bench.scenarios #{index + 1}", where)
    name = table.string("name", pattern=re.compile(r"^[a-z][a-z0-9-]*$"), expected="a name like 'detail'")
    method = table.string("method", "GET", pattern=re.compile(r"^[A-Z]+$"), expected="an HTTP method")
    path = table.string(
        "path", pattern=re.compile(r"^/[^\s]*$"), expected="a path starting with '/' (no spaces)"
    )
    identity = table.string("identity", pattern=re.compile(r"^[\w-]+:.+$"), expected="'SCHEME:USER'")
    body = table.table("body") or None
    status = _integer(table, "status", 100, 599, "an HTTP status")
    concurrency = table.integers("concurrency", 1, 1024, "a list of connection counts in 1..1024")
    warmup = _integer(table, "warmup", 0, 600, "seconds in 0..600")
    duration = _integer(table, "duration", 1, 3600, "seconds in 1..3600")
    headline = table.boolean("headline") or False
    table.done()
    if name is None or path is None:
        raise ConfigError(f"{where}: [bench.scenarios #{index + 1}] needs a name and a path")
    _check_placeholders(path, f"{where}: [bench.scenarios #{index + 1}] path")
    if body is not None:
        try:
            json.dumps(body, allow_nan=False)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{where}: [bench.scenarios #{index + 1}] body must hold JSON values only "
                "(strings, numbers, booleans, arrays, tables)"
            ) from None
        for text in _strings(body):
            _check_placeholders(text, f"{where}: [bench.scenarios #{index + 1}] body")
    assert method is not None
    return BenchScenario(
        name, method, path, identity, body, 200 if status is None else status,
        concurrency=concurrency, warmup=warmup, duration=duration, headline=headline,
    )  # fmt: skip


def _integer(table: _Table, key: str, low: int, high: int, expected: str) -> int | None:
    value = table._get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise table._wrong(key, expected)
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check_placeholders(text: str, where: str) -> None:
    # Braces that are not a {name} stay literal; a lone '{name' is almost always a typo.
    rest = _PLACEHOLDER.sub("", text)
    broken = re.search(r"\{[a-z_][a-z0-9_]*(?!\})", rest)
    if broken is not None:
        raise ConfigError(f"{where} has an unclosed placeholder {broken.group(0)!r} in {text!r}")
