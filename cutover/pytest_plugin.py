"""pytest plugin: a throwaway embedded PostgreSQL for the test run when ``DATABASE_URL`` is unset.

It must run before pytest-django configures Django (which reads the URL from the environment), hence a
``-p`` plugin wrapping ``pytest_load_initial_conftests`` rather than a fixture.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from .dburl import ENV_VAR
from .embedded import embedded_database, scratch_root


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]):
    if not os.environ.get(ENV_VAR):
        # Closed in reverse: forget the URL, stop and delete the cluster, remove its scratch directory.
        stack = ExitStack()
        scratch = Path(tempfile.mkdtemp(prefix="cutover-test-pg-", dir=scratch_root()))
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        url = stack.enter_context(embedded_database(scratch / "pgdata", throwaway=True))
        os.environ[ENV_VAR] = url.libpq()
        stack.callback(os.environ.pop, ENV_VAR, None)
        early_config.add_cleanup(stack.close)
    return (yield)
