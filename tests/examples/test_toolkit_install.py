"""The toolkit as a team installs it: what the distribution holds, and what installing it beside a
project's own pins leaves of that project's environment (the catalog example, on Django 4.2 LTS)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from email.parser import Parser

import pytest
from packaging.requirements import Requirement

from .catalog_env import PROJECT, REPO, ensure_toolkit_venv

DEMO_PACKAGES = ("legacy_django", "fastapi_app", "shared_db", "examples", "tests")
# The demo's stack: none of it is the toolkit's to install into a team's environment.
DEMO_STACK = {"djangorestframework", "django-filter", "drf-spectacular", "fastapi", "whitenoise", "asyncpg"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         "-w", str(out), str(REPO)],
        check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    (built,) = out.glob("*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_toolkit_and_nothing_of_the_demo(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"cutover"}
    assert any(name.startswith("cutover/") and name.endswith("cli.py") for name in wheel.namelist())


def test_the_wheel_requires_no_demo_stack_and_any_supported_django(wheel: zipfile.ZipFile) -> None:
    (metadata,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    message = Parser().parsestr(wheel.read(metadata).decode())
    required = [Requirement(line) for line in message.get_all("Requires-Dist", [])]
    always = {req.name.lower(): req for req in required if req.marker is None}
    assert not set(always) & DEMO_STACK, always
    django = always["django"]
    for version in ("4.2.30", "5.2.8", "6.0.1"):
        assert django.specifier.contains(version), (version, django)
    assert not django.specifier.contains("3.2.25")
    classifiers = message.get_all("Classifier", [])
    for version in ("4.2", "5.2", "6.0"):
        assert f"Framework :: Django :: {version}" in classifiers
    # The demo's pins are the development install's, behind extras.
    extras = {str(req.marker) for req in required if req.marker is not None}
    assert any("demo" in marker for marker in extras) and any("generated" in marker for marker in extras)


def test_installed_beside_a_django_4_2_project_it_keeps_the_projects_pins_and_brings_no_demo() -> None:
    bin_dir = ensure_toolkit_venv()
    pins = {
        line.split("==")[0].split("[")[0].lower(): line.split("==")[1]
        for line in (PROJECT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    probe = (
        "import importlib.metadata as m, importlib.util as u, json;"
        f"print(json.dumps({{'versions': {{n: m.version(n) for n in {sorted(pins)!r}}},"
        f" 'demo': [p for p in {DEMO_PACKAGES!r} if u.find_spec(p) is not None],"
        " 'cutover': m.version('django-fastapi-cutover')}))"
    )
    # From the project's root, as a team runs it: the repository's packages are not on its path.
    out = subprocess.run(
        [str(bin_dir / "python"), "-c", probe],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(out.stdout)
    assert seen["versions"] == pins
    assert seen["demo"] == []
    check = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "check"], capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stdout + check.stderr
    help_text = subprocess.run(
        [str(bin_dir / "cutover"), "--help"], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0 and "parity" in help_text.stdout
