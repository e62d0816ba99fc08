"""``cutover init``: what Django knows of the project, written as its config, its routing manifest and
starter parity cases. Every file is written only when it does not exist yet, except the manifest, which
is merged (new URLs added, gone ones marked, nothing the user wrote changed); ``dry_run`` writes nothing
and says what would change, as a diff."""

from __future__ import annotations

import difflib
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from ..config import ConfigError, ProjectConfig
from .cases_file import starter_cases
from .config_file import ProjectFacts, config_text, pyproject_text
from .manifest_file import merge_manifest, new_manifest, note_skipped
from .routes import Skipped, propose_routes
from .samples import malformed_path, missing_path, sample, sample_path
from .urlconf import Endpoint, endpoints, pinned_prefixes, resolves

__all__ = ["InitOptions", "InitResult", "init_project"]

LEGACY_SERVER = "127.0.0.1:8001"
MODERN_SERVER = "127.0.0.1:8002"
CASES_DIR = Path("parity") / "cases"


@dataclass(frozen=True)
class InitOptions:
    modern: str | None = None  # the port's ASGI app, module:attribute
    pyproject: bool = False  # the config as [tool.cutover] in pyproject.toml
    users: tuple[str, ...] = ()  # fixture usernames the starter cases authenticate as
    dry_run: bool = False


@dataclass
class InitResult:
    written: list[Path] = field(default_factory=list)  # created or changed
    kept: list[Path] = field(default_factory=list)  # already there, left as they are
    cases_kept: list[Path] = field(default_factory=list)  # starter case files already there (never rewritten)
    added: list[str] = field(default_factory=list)  # route ids new in the manifest
    marked: list[str] = field(default_factory=list)  # route ids no URL serves any more
    skipped: list[Skipped] = field(default_factory=list)  # endpoints the front door cannot express
    diff: str = ""  # dry run: what would change


def init_project(project: ProjectConfig, options: InitOptions) -> InitResult:
    """Introspect the project (its settings set up in this process) and write what ``init`` writes."""
    from ..parity.session import configure_django

    if not (project.root / "manage.py").is_file() and project.legacy.settings is None:
        raise ConfigError(f"{project.root} is not a Django project: no manage.py and no [legacy] settings")
    if options.modern is not None and not re.fullmatch(r"[\w.]+:[\w.]+", options.modern):
        raise ConfigError(f"--modern must be 'module:attribute', got {options.modern!r}")
    configure_django(project, None)
    facts = ProjectFacts.read(project)
    found = endpoints()
    routes, skipped = propose_routes(found, pinned_prefixes())
    result = InitResult(skipped=skipped)
    identities = _identities(facts, options.users)
    plans: list[tuple[Path, str | None, str]] = []  # (path, current text or None, new text)

    config_path = project.root / ("pyproject.toml" if options.pyproject else "cutover.toml")
    manifest_path = project.proxy.manifest if project.source is not None else project.root / "routes.toml"
    cases_dir = project.parity.cases if project.source is not None else project.root / CASES_DIR
    if project.source is None:  # no config yet: write one
        current = config_path.read_text() if config_path.is_file() else None
        relative = _relative(manifest_path, project.root), _relative(cases_dir, project.root)
        text = (
            pyproject_text(current or "", facts, options.modern, *relative)
            if options.pyproject
            else config_text(facts, options.modern, *relative)
        )
        plans.append((config_path, current, text))
    else:
        result.kept.append(project.source)

    if manifest_path.is_file():
        current = manifest_path.read_text(encoding="utf-8")
        text, result.added, result.marked = merge_manifest(
            current, routes, str(manifest_path), _served_by(found)
        )
    else:
        current = None
        doc = new_manifest(
            routes, legacy=LEGACY_SERVER, modern=MODERN_SERVER, session_cookie=facts.session_cookie
        )
        text, result.added = tomlkit.dumps(doc), [r.id for r in routes]
    plans.append((manifest_path, current, note_skipped(text, skipped)))

    for route in routes:
        endpoint = route.endpoint
        if endpoint is None:
            continue
        found_sample = sample(endpoint)
        if found_sample is None:
            continue
        case_file = cases_dir / f"{route.id}.toml"
        if case_file.exists():
            result.kept.append(case_file)
            result.cases_kept.append(case_file)
            continue
        text = starter_cases(
            route, found_sample.path, missing_path(endpoint), identities, endpoint.view, found_sample.values,
            malformed_path(endpoint),
        )  # fmt: skip
        plans.append((case_file, None, text))

    ignore = _gitignore(project.root)
    if ignore is not None:
        plans.append(ignore)

    for path, current, text in plans:
        if current == text:
            result.kept.append(path)
            continue
        if options.dry_run:
            result.diff += _diff(path, current, text, project.root)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        result.written.append(path)
    return result


# What the toolkit writes in the project that is no code: the parity report and audit log (.cutover/), the
# stack's database cluster, nginx prefix and shadow store (.data/).
IGNORED = (".cutover/", ".data/")


def _gitignore(root: Path) -> tuple[Path, str | None, str] | None:
    """``.gitignore`` with the toolkit's own folders added, when the project is a git work tree and its
    ``.gitignore`` lacks them; None otherwise (nothing to change, or no git)."""
    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, text=True
        )
    except OSError:
        return None
    if inside.stdout.strip() != "true":
        return None
    path = root / ".gitignore"
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    present = {line.strip().lstrip("/") for line in (current or "").splitlines()}
    missing = [entry for entry in IGNORED if entry not in present and entry.rstrip("/") not in present]
    if not missing:
        return None
    head = (current or "") + ("\n" if current and not current.endswith("\n") else "")
    block = "# cutover's own state: parity report and audit log, the stack's database and nginx prefix\n"
    return path, current, head + block + "".join(f"{entry}\n" for entry in missing)


def _identities(facts: ProjectFacts, users: Sequence[str]) -> list[str]:
    return [f"{scheme}:{user}" for user in users for scheme in facts.schemes]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.absolute().relative_to(root.absolute()))
    except ValueError:
        return str(path)


def _served_by(found: Sequence[Endpoint]) -> Callable[[str, str], bool]:
    """Whether Django still serves an existing manifest route's ``(match, path)``."""
    samples: list[str] | None = None  # each endpoint's sample path, computed once, when a pattern asks

    def served(match: str, path: str) -> bool:
        nonlocal samples
        if match == "exact":
            return resolves(path)
        if match == "prefix":
            return any(("/" + e.route.replace("^", "")).startswith(path) for e in found) or resolves(path)
        try:
            compiled = re.compile(path)
        except re.error:  # PCRE Python does not read: cannot tell, so it stays unmarked
            return True
        if samples is None:
            samples = [p for p in map(sample_path, found) if p is not None]
        return any(compiled.search(p) for p in samples)

    return served


def _diff(path: Path, current: str | None, text: str, root: Path) -> str:
    name = _relative(path, root)
    lines = difflib.unified_diff(
        (current or "").splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile=f"a/{name}" if current is not None else "/dev/null",
        tofile=f"b/{name}",
    )
    return "".join(lines)
