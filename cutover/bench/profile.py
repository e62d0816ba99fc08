"""CPU profiles of the servers under load, with py-spy (an optional dependency: ``pip install py-spy``).

A profile answers "why is this target missed": the share of GIL-holding samples by package (the ORM, the
validation layer, the server, the JSON encoder...) and the hottest functions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..config import ConfigError, ProjectConfig

__all__ = ["package_of", "project_packages", "py_spy", "record", "summarize_collapsed"]

# Where a request's phases (authentication, the query, rendering) have names: the project's own packages
# (from its config) and the layers they call. The servers' own loops (uvicorn, gunicorn, asyncio) frame
# everything and say nothing.
LIBRARIES = frozenset({
    "rest_framework", "django", "fastapi", "sqlalchemy", "asyncpg", "psycopg", "pydantic", "starlette",
})  # fmt: skip
# Middleware and routing wrappers frame every request alike; the phases are what they wrap.
_WRAPPER = re.compile(r"(__call__|<locals>|(^|\.)(handle|app|dispatch|view)$|_handle_selected|wrapped_view)")
_PROCESS = re.compile(r'process \d+:"[^"]*";?')
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy executable next to this Python, or on PATH; None when it is not installed."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def record(executable: str, pid: int, duration: int, out: Path, rate: int = 200) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` and its children for ``duration`` s into collapsed stacks at ``out``."""
    argv = [
        executable,
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--duration",
        str(duration),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
        "--full-filenames",
        # Only threads holding the GIL: py-spy's idle detection counts threads blocked in a lock or a
        # socket wait (a thread pool's Condition.wait, psycopg's wait) as busy in this environment, which
        # drowned the real work; GIL holders are exactly the Python-level CPU.
        "--gil",
    ]
    # --nonblocking: do not pause the servers while sampling, so the profile costs them (almost) nothing.
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _top(spec: str | None) -> str | None:
    # "pkg.module:attr" and "pkg.settings" both belong to the package "pkg".
    if not spec:
        return None
    return spec.partition(":")[0].split(".")[0] or None


def project_packages(project: ProjectConfig) -> dict[str, tuple[str, ...]]:
    """Each Python target's own top-level packages, from the config: the legacy's settings and WSGI app,
    the port's ASGI app and mapping, the floor's app."""
    try:
        settings: str | None = project.settings_module()
    except ConfigError:
        settings = None
    found = {
        "legacy": (settings, project.legacy.wsgi),
        "modern": (project.modern.asgi, project.schema.models),
        "floor": (project.bench.floor,),
    }
    return {name: tuple(dict.fromkeys(p for p in map(_top, specs) if p)) for name, specs in found.items()}


def package_of(path: str, project: Collection[str] = ()) -> str:
    """A frame's file mapped to what a reader recognises: a distribution, one of the ``project``'s
    packages, or 'stdlib'."""
    if "site-packages/" in path:
        top = path.split("site-packages/", 1)[1].split("/", 1)[0]
        return top.removesuffix(".py")
    if re.search(r"/lib/python3\.\d+/", path) or path.startswith("<frozen"):
        module = re.split(r"/lib/python3\.\d+/", path)[-1].split("/", 1)[0].removesuffix(".py")
        return f"stdlib ({module})"
    parts = Path(path).parts
    for known in project:
        if known in parts:
            return known
    return path or "?"


def summarize_collapsed(text: str, top: int = 12, project: Collection[str] = ()) -> dict[str, Any]:
    """Shares of self time by package and by function, from py-spy's ``--format raw`` output;
    ``project``: the project's own packages (:func:`project_packages`)."""
    phase_packages = LIBRARIES | set(project)
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue  # a process title may span lines; its remainder carries no sample
        # Process titles are quoted command lines, which may themselves contain ';'.
        stack = _PROCESS.sub("", stack)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        n = int(count)
        total += n
        leaf = _FRAME.match(frames[-1])
        func, file = (leaf["func"], leaf["file"]) if leaf else (frames[-1], "")
        package = package_of(file, project)
        by_package[package] += n
        by_function[f"{func} ({package})"] += n
        names = set()
        for frame in frames:
            m = _FRAME.match(frame)
            if not m or _WRAPPER.search(m["func"]):
                continue
            where = package_of(m["file"], project)
            if where in phase_packages:
                names.add(f"{m['func']} ({where})")
        for name in names:
            inclusive[name] += n
    if not total:
        return {"samples": 0, "by_package": [], "top_self": [], "top_inclusive": []}

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        # Below half a percent is noise at a few thousand samples.
        return [(k, round(v / total, 4)) for k, v in counter.most_common(top) if v / total >= 0.005]

    # Inclusive time says which request phase costs what (authentication, the query, rendering); the
    # outermost frames (the server loop) include everything and say nothing, hence the cut at 60%.
    phases = Counter({k: v for k, v in inclusive.items() if v / total < 0.6})
    return {
        "samples": total,
        "by_package": shares(by_package),
        "top_self": shares(by_function),
        "top_inclusive": shares(phases),
    }
