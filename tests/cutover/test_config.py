"""The project config: found like pytest's and ruff's, read once into a frozen object, wrong keys named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cutover.config import BenchConfig, ConfigError, find_config, load_config

FULL = """
[legacy]
settings = "shop.settings"
wsgi = "shop.wsgi:application"
command = "gunicorn shop.wsgi --bind {host}:{port}"
health = "/healthz/"

[modern]
asgi = "service.main:app"
health = "/healthz"

[database]
migrate = true
seed = "loaddata demo.json"

[proxy]
manifest = "deploy/routes.toml"
front_door = "envoy"

[parity]
cases = "checks/cases"
fixture = ["fixtures/users.json", "fixtures/extra.sql", "checks.factories:catalogue"]
tables = ["shop_product", "shop_product_tags"]
hashed = ["auth_user.password"]
generated = 12

[identities.schemes]
apikey = "checks.identities:api_key"

[[bench.scenarios]]
name = "detail"
path = "/api/products/1/"
identity = "jwt:alice"

[[bench.scenarios]]
name = "create"
method = "POST"
path = "/api/products/"
body = { name = "chair" }
status = 201
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_a_full_cutover_toml_is_read_with_paths_under_its_folder(tmp_path: Path):
    write(tmp_path, "cutover.toml", FULL)
    config = load_config(start=tmp_path, environ={})
    assert config.root == tmp_path and config.source == tmp_path / "cutover.toml"
    assert config.legacy.settings == "shop.settings" and config.legacy.health == "/healthz/"
    assert config.legacy.command == "gunicorn shop.wsgi --bind {host}:{port}"
    assert config.modern.asgi == "service.main:app" and config.modern.command is None
    assert config.database.migrate is True and config.database.seed == "loaddata demo.json"
    assert config.proxy.manifest == tmp_path / "deploy" / "routes.toml"
    assert config.proxy.front_door == "envoy"
    assert config.parity.cases == tmp_path / "checks" / "cases"
    assert config.parity.rules == tmp_path / "parity" / "rules.toml"  # a default, under the root too
    assert config.parity.fixture == (
        "fixtures/users.json",
        "fixtures/extra.sql",
        "checks.factories:catalogue",
    )
    assert config.parity.tables == ("shop_product", "shop_product_tags")
    assert config.parity.generated == 12
    assert config.identities == {"apikey": "checks.identities:api_key"}
    assert [(s.name, s.method, s.status, s.identity) for s in config.bench.scenarios] == [
        ("detail", "GET", 200, "jwt:alice"),
        ("create", "POST", 201, None),
    ]
    assert config.bench.scenarios[1].body == {"name": "chair"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.root = Path("/")  # type: ignore[misc]


def test_found_from_a_subfolder_upward_and_pyproject_tool_table(tmp_path: Path):
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n\n[tool.cutover.modern]\nasgi = "svc:app"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    config = load_config(start=deep, environ={})
    assert config.source == tmp_path / "pyproject.toml" and config.modern.asgi == "svc:app"
    # A cutover.toml nearer the working directory wins.
    write(tmp_path / "a", "cutover.toml", '[modern]\nasgi = "nearer:app"\n')
    assert load_config(start=deep, environ={}).modern.asgi == "nearer:app"


def test_a_pyproject_without_the_tool_table_is_passed_over(tmp_path: Path):
    write(tmp_path, "cutover.toml", '[modern]\nasgi = "outer:app"\n')
    write(tmp_path / "pkg", "pyproject.toml", '[project]\nname = "pkg"\n')
    assert load_config(start=tmp_path / "pkg", environ={}).modern.asgi == "outer:app"


def test_explicit_path_and_environment_override_discovery(tmp_path: Path):
    write(tmp_path, "cutover.toml", '[modern]\nasgi = "found:app"\n')
    other = write(tmp_path / "elsewhere", "mine.toml", '[modern]\nasgi = "explicit:app"\n')
    assert load_config(start=tmp_path, environ={"CUTOVER_CONFIG": str(other)}).modern.asgi == "explicit:app"
    config = load_config(start=tmp_path, explicit=other, environ={})
    assert config.modern.asgi == "explicit:app" and config.root == other.parent
    with pytest.raises(ConfigError, match="config file .*missing.toml does not exist"):
        load_config(explicit=tmp_path / "missing.toml", environ={})


def test_no_config_means_defaults_rooted_at_manage_py(tmp_path: Path):
    write(
        tmp_path,
        "manage.py",
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_conf.settings")\n',
    )
    (tmp_path / "app").mkdir()
    assert find_config(start=tmp_path / "app", environ={}) == (None, tmp_path)
    config = load_config(start=tmp_path / "app", environ={})
    assert config.source is None and config.proxy.manifest == tmp_path / "routes.toml"
    assert config.parity.generated == 40
    assert config.settings_module(environ={}) == "site_conf.settings"
    assert config.settings_module(environ={"DJANGO_SETTINGS_MODULE": "env.settings"}) == "env.settings"


def test_settings_module_that_cannot_be_told_is_one_clear_error(tmp_path: Path):
    config = load_config(start=tmp_path, environ={})
    with pytest.raises(ConfigError, match=r"cannot tell the Django settings module: set \[legacy\] settings"):
        config.settings_module(environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[legacy]\nsetings = "x.settings"\n',
            r"\[legacy\] has no key 'setings' \(known: args, command, health",
        ),
        ('[legasy]\nsettings = "x"\n', r"has no table 'legasy'"),
        ('[modern]\nasgi = "no_colon_here"\n', r"\[modern\] asgi must be an import string"),
        ('[legacy]\ncommand = "gunicorn app"\n', r"\[legacy\] command must contain \{port\}"),
        ('[legacy]\nhealth = "healthz"\n', r"\[legacy\] health must be a path starting with '/'"),
        ("[database]\nmigrate = 'yes'\n", r"\[database\] migrate must be true or false"),
        (
            '[proxy]\nfront_door = "haproxy"\n',
            r"\[proxy\] front_door must be 'nginx' or 'envoy', got 'haproxy'",
        ),
        ('[parity]\nfixture = "one.json"\n', r"\[parity\] fixture must be a list of strings"),
        ("[parity]\ngenerated = -1\n", r"\[parity\] generated must be an integer >= 0, got -1"),
        ('[parity]\ngenerated = "40"\n', r"\[parity\] generated must be an integer >= 0, got '40'"),
        ("[parity]\ngenerated = true\n", r"\[parity\] generated must be an integer >= 0, got True"),
        ('[identities.schemes]\ntoken = "x:y"\n', r"'token' is built in"),
        ('[identities.schemes]\nkey = "nothing"\n', r"key must be 'module:function'"),
        ('[[bench.scenarios]]\nname = "d"\npath = "/x"\nstatus = 99\n', r"status must be an HTTP status"),
        ('[[bench.scenarios]]\nname = "d"\n', r"needs a name and a path"),
        ('[bench]\nfloor = "nocolon"\n', r"\[bench\] floor must be an import string"),
        ("[bench]\ndataset = 3\n", r"\[bench\] dataset must be an import string"),
        ('[bench]\nseed = ""\n', r"\[bench\] seed must be a management command"),
        (
            '[bench]\nfloors = "a:b"\n',
            r"\[bench\] has no key 'floors' \(known: dataset, db_latency, env, floor, scenarios, seed, threads\)",
        ),
        (
            '[[bench.scenarios]]\nname = "d"\npath = "/x"\nconcurrency = 8\n',
            r"concurrency must be a list of connection counts in 1..1024",
        ),
        (
            '[[bench.scenarios]]\nname = "d"\npath = "/x"\nconcurrency = [8, 0]\n',
            r"concurrency must be a list of connection counts",
        ),
        (
            '[[bench.scenarios]]\nname = "d"\npath = "/x"\nduration = 0\n',
            r"\[bench.scenarios #1\] duration must be seconds in 1..3600",
        ),
        (
            '[[bench.scenarios]]\nname = "d"\npath = "/x"\nwarmup = true\n',
            r"warmup must be seconds in 0..600",
        ),
        (
            '[[bench.scenarios]]\nname = "d"\npath = "/x"\nheadline = "yes"\n',
            r"headline must be true or false",
        ),
        ('[[bench.scenarios]]\nname = "d"\npath = "/x/{id"\n', r"path has an unclosed placeholder '\{id'"),
        (
            '[[bench.scenarios]]\nname = "d"\npath = "/x"\nbody = { when = 1979-05-27 }\n',
            r"body must hold JSON values only",
        ),
        (
            '[[bench.scenarios]]\nname = "d"\npath = "/x"\n[[bench.scenarios]]\nname = "d"\npath = "/y"\n',
            r"name 'd' is used twice",
        ),
        (
            '[[bench.scenarios]]\nname = "a"\npath = "/x"\nheadline = true\n[[bench.scenarios]]\nname = "b"\npath = "/y"\nheadline = true\n',
            r"headline = true is set on more than one",
        ),
        ("[legacy\n", r"not valid TOML"),
    ],
)
def test_a_wrong_config_names_the_file_and_key(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, "cutover.toml", text)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(start=tmp_path, environ={})
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)


def test_the_bench_keys_are_read_with_their_defaults(tmp_path: Path):
    write(
        tmp_path,
        "cutover.toml",
        """
[bench]
seed = "seed_catalogue --count {users}"
dataset = "bench.data:build"
floor = "bench.floor:app"

[[bench.scenarios]]
name = "detail"
path = "/api/products/{id}/"

[[bench.scenarios]]
name = "create"
method = "POST"
path = "/api/products/"
body = { name = "chair {unique}", tags = ["{n}"] }
status = 201
concurrency = [2, 8]
warmup = 0
duration = 15
headline = true
""",
    )
    bench = load_config(start=tmp_path, environ={}).bench
    assert (bench.seed, bench.dataset, bench.floor) == (
        "seed_catalogue --count {users}",
        "bench.data:build",
        "bench.floor:app",
    )
    detail, create = bench.scenarios
    assert (detail.concurrency, detail.warmup, detail.duration, detail.headline) == (None, None, None, False)
    assert (create.concurrency, create.warmup, create.duration, create.headline) == ((2, 8), 0, 15, True)
    assert bench.headline == create
    assert BenchConfig().headline is None  # a project without [bench]


def test_without_a_headline_flag_the_first_scenario_is_the_headline(tmp_path: Path):
    write(tmp_path, "cutover.toml", FULL)
    bench = load_config(start=tmp_path, environ={}).bench
    assert bench.headline is not None and bench.headline.name == "detail"
    assert (bench.seed, bench.dataset, bench.floor) == (None, None, None)


def test_shadow_and_gate_keys_have_defaults_and_are_checked(tmp_path: Path):
    config = load_config(start=tmp_path, environ={})
    assert config.shadow.url == f"sqlite:///{tmp_path / '.data' / 'shadow.sqlite3'}"
    assert (config.shadow.absolute_threshold, config.shadow.relative_threshold) == (0.01, 0.2)
    assert config.gate.shadow_min_compared is None
    write(
        tmp_path,
        "cutover.toml",
        '[shadow]\ndatabase = "postgresql://u@db/shadow"\nkeep = 5\nabsolute_threshold = 0.05\n'
        "[gate]\nshadow_min_compared = 200\nshadow_max_different_rate = 0.001\n",
    )
    config = load_config(start=tmp_path, environ={})
    assert config.shadow.url == "postgresql://u@db/shadow" and config.shadow.keep == 5
    assert config.shadow.absolute_threshold == 0.05
    assert (config.gate.shadow_min_compared, config.gate.shadow_max_different_rate) == (200, 0.001)
    for text, message in [
        ("[shadow]\nkeep = 0\n", r"\[shadow\] keep must be an integer in 1..100000, got 0"),
        ("[shadow]\nrelative_threshold = 2\n", r"\[shadow\] relative_threshold must be a number in 0..1"),
        ('[shadow]\ndatabase = "sqlite:///x"\n', r"\[shadow\] database must be a postgresql:// URL"),
        ("[gate]\nshadow_min_compared = true\n", r"\[gate\] shadow_min_compared must be an integer"),
    ]:
        write(tmp_path, "cutover.toml", text)
        with pytest.raises(ConfigError, match=message):
            load_config(start=tmp_path, environ={})


def test_promote_keys_have_defaults_and_are_checked(tmp_path: Path):
    config = load_config(start=tmp_path, environ={})
    assert config.promote.steps == (5, 25, 50, 100) and config.promote.interval == 60.0
    assert (config.promote.min_requests, config.promote.max_waits) == (50, 3)
    write(
        tmp_path,
        "cutover.toml",
        "[promote]\nsteps = [10, 100]\ninterval = 30\nmin_requests = 200\nmax_waits = 0\n"
        "max_error_rate_increase = 0.001\nmax_p99_ratio = 1.2\np99_slack = 0.01\nmax_shadow_different_rate = 0.02\n",
    )
    promote = load_config(start=tmp_path, environ={}).promote
    assert (promote.steps, promote.interval) == ((10, 100), 30.0)
    assert (promote.min_requests, promote.max_waits) == (200, 0)
    assert (promote.max_error_rate_increase, promote.max_p99_ratio, promote.p99_slack) == (0.001, 1.2, 0.01)
    assert promote.max_shadow_different_rate == 0.02
    for text, message in [
        ("[promote]\nsteps = [50, 25]\n", r"\[promote\] steps must be ascending .* \(got \[50, 25\]\)"),
        ("[promote]\nsteps = [0, 50]\n", r"\[promote\] steps"),
        ("[promote]\ninterval = 0.5\n", r"\[promote\] interval must be a number in 1"),
        ("[promote]\nmax_p99_ratio = 0.5\n", r"\[promote\] max_p99_ratio must be a number in 1"),
        ("[promote]\nmin_requests = 0\n", r"\[promote\] min_requests must be an integer"),
        ("[promote]\nthreshold = 1\n", r"\[promote\].*threshold"),
    ]:
        write(tmp_path, "cutover.toml", text)
        with pytest.raises(ConfigError, match=message):
            load_config(start=tmp_path, environ={})


def test_audit_and_dashboard_keys_have_defaults_and_are_checked(tmp_path: Path):
    config = load_config(start=tmp_path, environ={})
    assert config.audit.url == f"sqlite:///{tmp_path / '.cutover' / 'audit.sqlite3'}"
    assert (config.dashboard.host, config.dashboard.port, config.dashboard.refresh) == (
        "127.0.0.1",
        8004,
        5.0,
    )
    write(
        tmp_path, "cutover.toml", '[audit]\ndatabase = "postgresql://u@db/state"\n[dashboard]\nport = 9000\n'
    )
    config = load_config(start=tmp_path, environ={})
    assert config.audit.url == "postgresql://u@db/state" and config.dashboard.port == 9000
    for text, message in [
        ('[audit]\ndatabase = "mysql://db"\n', r"\[audit\] database must be a postgresql:// URL"),
        ("[audit]\nwho = 1\n", r"\[audit\] has no key 'who'"),
        ("[dashboard]\nport = 0\n", r"\[dashboard\] port must be an integer in 1..65535"),
        ("[dashboard]\nhistory = 10\n", r"\[dashboard\] history must be a number in 60..604800"),
    ]:
        write(tmp_path, "cutover.toml", text)
        with pytest.raises(ConfigError, match=message):
            load_config(start=tmp_path, environ={})


def test_migrate_default_depends_on_whose_database_it_is(tmp_path: Path):
    config = load_config(start=tmp_path, environ={})
    assert config.database.migrates(explicit_url=False) is True  # the embedded or a throwaway database
    assert config.database.migrates(explicit_url=True) is False  # the team's own DATABASE_URL
    write(tmp_path, "cutover.toml", "[database]\nmigrate = true\n")
    assert load_config(start=tmp_path, environ={}).database.migrates(explicit_url=True) is True
