"""Rendering a benchmark run: JSON for machines, a Markdown table for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .analysis import explain
from .latency import format_latency
from .results import HEADLINE_CONNECTIONS, BenchRun, Point, Ratio, checks, ratios
from .scenarios import title

__all__ = ["read_run", "render_json", "render_markdown", "rerender", "write_results"]


def _title(run: BenchRun, name: str | None) -> str:
    # "detail: GET /things/{id}/ as token:alice", from what the run recorded of the scenario.
    found = next((s for s in run.scenarios if s.get("name") == name), None)
    return f"{name}: {title(found)}" if found else str(name)


def render_json(run: BenchRun) -> dict[str, Any]:
    """Everything measured, plus the derived ratios and checks."""
    return {
        "started": run.started,
        "finished": run.finished,
        "machine": run.machine,
        "versions": run.versions,
        "settings": run.settings,
        "scenarios": run.scenarios,
        "points": [p.as_dict() for p in run.points],
        "ratios": [_ratio(r) for r in ratios(run)],
        "cpu_ratios": [_ratio(r) for r in ratios(run, cpu=True)],
        "checks": [
            {
                "name": c.name,
                "wanted": c.wanted,
                "value": None if c.value is None else round(c.value, 3),
                "status": c.status,
            }
            for c in checks(run)
        ],
        "profiles": run.profiles,
        "why": explain(run),
        "notes": run.notes,
    }


def _ratio(r: Ratio) -> dict[str, Any]:
    return {
        "name": r.name,
        "endpoint": r.endpoint,
        "connections": r.connections,
        "db_latency_ms": r.db_latency_ms,
        "value": None if r.value is None else round(r.value, 3),
    }


def _far(run: BenchRun) -> bool:
    # Whether the run measured with the database made far: then every table says how far.
    return run.latencies != [0.0]


def _distance(latency: float) -> str:
    return "database direct" if latency == 0 else f"database {format_latency(latency)} away"


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "–" if value is None else fmt.format(value)


def render_markdown(run: BenchRun) -> str:
    """A self-contained Markdown report: machine, versions, settings, targets, results, ratios, profiles."""
    m, s = run.machine, run.settings
    lines = [
        f"# Benchmark results, {run.started}",
        "",
        f"Produced by `{s.get('command', 'cutover bench')}` "
        f"(started {run.started}, finished {run.finished}).",
        "Loopback only; every figure is one window of "
        f"{s.get('duration_s')} s after a {s.get('warmup_s')} s warm-up at the same concurrency.",
        "",
        "## Machine",
        "",
        f"- CPU: {m.get('cpu')} ({m.get('cores')} logical cores); memory {m.get('memory_gib')} GiB",
        f"- OS: {m.get('os')}; Python {m.get('python')}",
        f"- Load average (1, 5, 15 min) at start: {m.get('loadavg_start')}; at end: {m.get('loadavg_end')}",
        "- The machine is shared: other processes (tests of other work) ran during the benchmark; "
        "the 1-minute load average before each window is in the tables "
        "(above the core count means contention).",
        "",
        "## Versions",
        "",
        "| component | version |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in run.versions.items()),
        "",
        "## Settings",
        "",
        *(f"- {k}: {v}" for k, v in s.items() if k != "command"),
        "",
        f"## Targets ({_title(run, run.headline)} at {HEADLINE_CONNECTIONS} connections)",
        "",
        "| target | wanted | measured | status |",
        "| --- | --- | --- | --- |",
    ]
    for c in checks(run):
        lines.append(f"| {c.name} | {c.wanted} | {c.shown} | {c.status} |")
    why = explain(run)
    if why:
        lines += ["", "### Why the missed targets are missed", ""]
        for paragraph in why:
            lines += [paragraph, ""]
        lines.pop()
    lines += ["", "## Results", ""]
    if _far(run):
        lines += [
            "With the database made far (`--db-latency`), every query's round trip pays the added latency "
            "(the relay's own CPU, on the same cores, is its column; see docs/performance.md).",
            "",
        ]
    endpoints = sorted(dict.fromkeys(p.endpoint for p in run.points), key=run.order)
    for latency in run.latencies:
        for endpoint in endpoints:
            lines += _results_table(run, endpoint, latency)
    lines += _ratio_table(run)
    lines += _ratio_table(run, cpu=True)
    for name, profile in run.profiles.items():
        lines += _profile_section(name, profile)
    if run.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in run.notes), ""]
    return "\n".join(lines).rstrip() + "\n"


def _results_table(run: BenchRun, endpoint: str, latency: float) -> list[str]:
    points = [p for p in run.points if p.endpoint == endpoint and p.db_latency_ms == latency]
    if not points:
        return []
    far = _far(run)
    relay = latency > 0
    lines = [
        f"### {_title(run, endpoint)}" + (f", {_distance(latency)}" if far else ""),
        "",
        "| target | conns | req/s | p50 ms | p99 ms | errors "
        "| server CPU s/1k req | DB CPU s/1k req |"
        + (" relay CPU s/1k req |" if relay else "")
        + " load 1m |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if relay else "") + " ---: |",
    ]
    blanks = "| | | | | |" + (" |" if relay else "")
    for p in points:
        if p.load is None:
            lines.append(f"| {p.target} | {p.connections} | not measured: {p.skipped} {blanks}")
            continue
        if p.load.requests == 0:
            lines.append(
                f"| {p.target} | {p.connections} | 0: no request completed within the window | | | "
                f"{p.load.errors} | | |" + (" |" if relay else "") + f" {p.loadavg_before[0]:.2f} |"
            )
            continue
        rps = f"{p.rps:,.0f}"
        if len(p.rps_samples) > 1:
            rps += f" (median of {len(p.rps_samples)}: {min(p.rps_samples):,.0f}–{max(p.rps_samples):,.0f})"
        lines.append(
            f"| {p.target} | {p.connections} | {rps} | {p.load.latency_p50_ms:,.1f} | "
            f"{p.load.latency_p99_ms:,.1f} | {p.load.errors} | "
            f"{_num(p.per_1k(p.server_cpu_s), '{:.2f}')} | "
            f"{_num(p.per_1k(p.db_cpu_s), '{:.2f}')} | "
            + (f"{_num(p.per_1k(p.relay_cpu_s), '{:.2f}')} | " if relay else "")
            + f"{p.loadavg_before[0]:.2f} |"
        )
    return [*lines, ""]


def _ratio_table(run: BenchRun, *, cpu: bool = False) -> list[str]:
    rs = ratios(run, cpu=cpu)
    if not rs:
        return []
    levels = sorted({r.connections for r in rs})
    title = (
        "## Ratios of CPU efficiency (server CPU per request, the second target's over the first's)"
        if cpu
        else "## Ratios of requests/s"
    )
    far = _far(run)
    lines = [
        title,
        "",
        "| ratio | scenario | "
        + ("database | " if far else "")
        + " | ".join(f"{c} conns" for c in levels)
        + " |",
        "| --- | --- | " + ("--- | " if far else "") + " | ".join("---:" for _ in levels) + " |",
    ]
    rows: dict[tuple[str, str, float], dict[int, float | None]] = {}
    for r in rs:
        rows.setdefault((r.name, r.endpoint, r.db_latency_ms), {})[r.connections] = r.value
    for (name, endpoint, latency), values in rows.items():
        cells = " | ".join(_num(values.get(c), "{:.2f}") for c in levels)
        distance = f"{'direct' if latency == 0 else format_latency(latency)} | " if far else ""
        lines.append(f"| {name} | {endpoint} | {distance}{cells} |")
    if not cpu and any(len(p.rps_samples) > 1 for p in run.points):
        lines += [
            "",
            "Where a point was measured in repeated rounds (every target in turn in each round), its ratio "
            "is the median of the rounds' own ratios, not the ratio of the two medians.",
        ]
    return [*lines, ""]


def _profile_section(name: str, profile: dict[str, Any]) -> list[str]:
    lines = [
        f"## Profile: {name}",
        "",
        f"{profile.get('description', '')} {profile.get('samples', 0):,} samples; "
        f"{profile.get('rps_under_profile', 0):,.0f} req/s while sampled (not used for the ratios).",
        "",
        "| where the CPU goes (self time, by package) | share |",
        "| --- | ---: |",
        *(f"| {pkg} | {share:.0%} |" for pkg, share in profile.get("by_package", [])),
        "",
        "| hottest functions (self time) | share |",
        "| --- | ---: |",
        *(f"| `{frame}` | {share:.1%} |" for frame, share in profile.get("top_self", [])),
        "",
        "| request phases (inclusive time, below 60%) | share |",
        "| --- | ---: |",
        *(f"| `{frame}` | {share:.1%} |" for frame, share in profile.get("top_inclusive", [])),
        "",
    ]
    return lines


def write_results(run: BenchRun, out_dir: Path) -> tuple[Path, Path]:
    """Write ``bench-<time>.json`` and ``.md`` plus ``latest.json``/``latest.md``; return the timed pair."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = run.started.replace(":", "").replace("-", "")
    data = json.dumps(render_json(run), indent=2, ensure_ascii=False) + "\n"
    text = render_markdown(run)
    json_path, md_path = out_dir / f"bench-{stamp}.json", out_dir / f"bench-{stamp}.md"
    for path, content in (
        (json_path, data),
        (md_path, text),
        (out_dir / "latest.json", data),
        (out_dir / "latest.md", text),
    ):
        path.write_text(content, encoding="utf-8")
    return json_path, md_path


def read_run(path: Path) -> BenchRun:
    """The run a results JSON records: the measurements (as rounded in the JSON); the ratios, checks and
    the "why" are derived again from them."""
    return _run_from(json.loads(path.read_text(encoding="utf-8")))


def _run_from(data: dict[str, Any]) -> BenchRun:
    return BenchRun(
        started=data["started"],
        finished=data["finished"],
        machine=data["machine"],
        versions=data["versions"],
        settings=data["settings"],
        points=[Point.from_dict(p) for p in data["points"]],
        profiles=data.get("profiles", {}),
        notes=data.get("notes", []),
        scenarios=data.get("scenarios", []),
    )


def rerender(json_path: Path) -> Path:
    """Derive a results JSON's ratios, checks and "why" again with the current analysis, and write its
    Markdown (beside it) again; the measurements are kept as recorded. Returns the Markdown's path."""
    data = json.loads(json_path.read_text(encoding="utf-8"))
    run = _run_from(data)
    derived = render_json(run)
    for key in ("ratios", "cpu_ratios", "checks", "why"):
        data[key] = derived[key]
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = json_path.with_suffix(".md")
    md_path.write_text(render_markdown(run), encoding="utf-8")
    return md_path
