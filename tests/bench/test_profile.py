"""Summaries of py-spy's collapsed stacks."""

from __future__ import annotations

import pytest

from cutover.bench.profile import package_of, project_packages, summarize_collapsed
from cutover.config import load_config

SITE = "/work/main/.venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"

RAW = f"""process 101:"python -m uvicorn app";thread (0x7F):run (uvicorn/server.py);handle ({SITE}/starlette/routing.py:80);\
execute ({SITE}/sqlalchemy/engine/base.py:1400) 55
process 101:"python -m uvicorn app";handle ({SITE}/starlette/routing.py:80);encode ({STDLIB}/json/encoder.py:200) 35
process 102:"python -c from multiprocessing.spawn import spawn_main; spawn_main(fd=7)";\
user_detail (/work/main/fastapi_app/routes/users.py:12) 10
garbage line without a count
"""


PROJECT = ("legacy_django", "fastapi_app", "bench_demo")


def test_self_time_by_package_and_function():
    summary = summarize_collapsed(RAW, project=PROJECT)
    assert summary["samples"] == 100
    assert summary["by_package"] == [("sqlalchemy", 0.55), ("stdlib (json)", 0.35), ("fastapi_app", 0.1)]
    assert summary["top_self"][0] == ("execute (sqlalchemy)", 0.55)
    # handle() is on 90% of the stacks: too general to explain anything; user_detail is 10%.
    assert dict(summary["top_inclusive"]) == {"execute (sqlalchemy)": 0.55, "user_detail (fastapi_app)": 0.1}


def test_empty_profile():
    assert summarize_collapsed("") == {"samples": 0, "by_package": [], "top_self": [], "top_inclusive": []}


@pytest.mark.parametrize(
    ("path", "package"),
    [
        (f"{SITE}/asyncpg/connection.py", "asyncpg"),
        (f"{SITE}/six.py", "six"),
        (f"{STDLIB}/asyncio/base_events.py", "stdlib (asyncio)"),
        (f"{STDLIB}/selectors.py", "stdlib (selectors)"),
        ("/work/main/legacy_django/users/views.py", "legacy_django"),
        ("/work/main/bench_demo/floor.py", "bench_demo"),
        ("/work/main/cutover/bench/harness.py", "/work/main/cutover/bench/harness.py"),  # not the project's
    ],
)
def test_package_of(path, package):
    assert package_of(path, PROJECT) == package


def test_a_project_s_own_code_is_not_a_phase_without_its_config():
    # Without the project's packages its frames are only paths: the toolkit names no project itself.
    summary = summarize_collapsed(RAW)
    assert "user_detail (fastapi_app)" not in dict(summary["top_inclusive"])


def test_the_project_packages_come_from_its_config():
    assert project_packages(load_config()) == {
        "legacy": ("legacy_django",),
        "modern": ("fastapi_app", "shared_db"),
        "floor": ("bench_demo",),
    }
