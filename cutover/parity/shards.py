"""Cases in parallel: ``cutover parity --jobs N`` runs N in-process sessions at once and merges them.

Why processes: a session's apps are global to the process that runs them (Django's settings and database
connections, the port's engine), so one process serves one database. Each job is a process of its own
(started fresh, not forked from one holding connections) that runs :func:`~.session.run_in_process` on a
throwaway database of its own: it migrates it, loads the fixture, mints the credentials and plans the
written cases (the same list in every job). The first job alone draws the generated cases and publishes
them (drawing 40 takes a second of CPU, which the other jobs spend on cases meanwhile). Every case still
starts from exactly the fixture state of its job's database; the minted secrets differ between jobs
(random token keys), and the merged report scrubs every job's.

The cases are handed out one at a time, over a queue, to whichever job is free (the written ones as soon
as one job has planned them, the generated ones once drawn): a job that drew the cases, or met the
sign-ups' password hashing, takes fewer, and the jobs end together. The results come back over another
queue as each case ends (the progress bar moves with them) and are put back in the order the cases were
planned, with what blocked each job's port (each job watches its own event loop); the report, the JUnit
file and the table are made once, here, as a single session makes them. A job that fails to set up ends
the run with its one-line error; a job that dies is named with its exit code.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queues
import signal
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from importlib.machinery import ModuleSpec
from typing import TYPE_CHECKING, Any

from ..config import ProjectConfig
from ..errors import CutoverError, described

if TYPE_CHECKING:  # imported where used: a job starts its database first, then imports these meanwhile
    from ..dburl import DatabaseURL
    from .cases import Case
    from .runner import CaseResult
    from .session import Progress, SessionOptions, SessionResult

__all__ = ["auto_jobs", "parity_database", "run_in_jobs"]

_POLL = 0.5  # seconds between looks at the jobs while no message comes
_PLANNER = 0  # the job that draws the generated cases


@dataclass(frozen=True)
class _Secrets:
    values: frozenset[str]

    def secrets(self) -> set[str]:
        return set(self.values)


CASES_PER_JOB = 50  # below this a job's start (a cluster, migrations, the fixture) costs more than it saves
# auto's ceiling, a guess: only one and two jobs were measured (a 2-core machine), and every job adds a
# start (a cluster, migrations, the fixture) and its memory.
MAX_AUTO_JOBS = 8
JOB_MEMORY = 512 << 20  # about twice a demo job: its interpreter with both apps (135-170 MB), its
# cluster (its server processes 27 MB, its files on the RAM disk about 40 MB and more as tables grow)


def auto_jobs(project: ProjectConfig, options: SessionOptions) -> int:
    """``--jobs auto``: one job per 50 cases planned, at most one per core this process may use, one per
    512 MiB of memory available and eight in all; one with a named database (jobs cannot share it). The
    cases are counted as planned without Django: the written ones of the routes asked for, and the
    generated ones when no route is named (which routes those take is known only once drawn). A case
    directory that cannot be read is one job, whose session says why."""
    from .cases import CaseError, load_cases

    if options.database_url:
        return 1
    cases_dir = options.cases or project.parity.cases
    try:
        written = load_cases(cases_dir) if cases_dir.is_dir() else []
    except CaseError:
        return 1
    if options.routes:
        planned = sum(case.route in options.routes for case in written)
    else:
        generated = project.parity.generated if options.generated is None else options.generated
        planned = len(written) + max(generated, 0)
    return max(1, min(_cores(), _memory() // JOB_MEMORY, MAX_AUTO_JOBS, planned // CASES_PER_JOB))


def _memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_in_jobs(
    project: ProjectConfig, options: SessionOptions, jobs: int, progress: Progress | None = None
) -> SessionResult:
    """The cases of one in-process session, spread over ``jobs`` processes (see the module doc)."""
    from .session import run_in_process

    if jobs == 1:
        return run_in_process(project, options, progress)
    if options.database_url:
        raise CutoverError(
            "--jobs runs each job on a throwaway database of its own; it cannot share --database-url"
        )
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    tasks: Any = context.Queue()
    workers = [
        context.Process(target=_job, args=(project, options, index, jobs, messages, tasks), daemon=True)
        for index in range(jobs)
    ]
    with _main_left_alone():
        for worker in workers:
            worker.start()
    try:
        return _collect(project, options, workers, messages, tasks, progress)
    finally:
        _stop(workers)
        for channel in (messages, tasks):
            channel.close()
            channel.join_thread()


@contextmanager
def _main_left_alone() -> Iterator[None]:
    """Jobs start without running the parent's main script again.

    A spawned process first imports the parent's ``__main__`` ("safe importing of main module"); for the
    ``cutover`` console script that is the whole command line with every command's imports, 0.65 s of
    each job's start, and a job needs none of it (:func:`_job` is this module's). multiprocessing leaves a
    package's ``__main__`` module alone (what ``python -m cutover`` runs): while the jobs start, a main
    module without a spec of its own is given that one's.
    """
    main = sys.modules["__main__"]
    saved = main.__dict__.get("__spec__")
    if getattr(saved, "name", None) is None:
        main.__spec__ = ModuleSpec("cutover.__main__", None)
    try:
        yield
    finally:
        main.__spec__ = saved


def _stop(workers: list[Any]) -> None:
    """Each job still running (another failed, or Ctrl-C) is interrupted, so that it stops its own database
    and removes it as a session does on Ctrl-C; one that does not end in time is killed."""
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, signal.SIGINT)
    for worker in workers:
        worker.join(30)
        if worker.is_alive():
            worker.kill()
            worker.join(5)
        if not worker.is_alive():
            worker.close()


def _collect(
    project: ProjectConfig, options: SessionOptions, workers: list[Any], messages: Any, tasks: Any,
    progress: Progress | None,
) -> SessionResult:  # fmt: skip
    results: dict[int, CaseResult] = {}
    done: dict[int, tuple[Any, ...]] = {}
    written: int | None = None
    on_result = None
    while len(done) < len(workers):
        try:
            kind, index, *payload = messages.get(timeout=_POLL)
        except queues.Empty:
            for number, worker in enumerate(workers):
                if number not in done and worker.exitcode is not None:
                    raise CutoverError(
                        f"parity job {number + 1} of {len(workers)} died (exit code {worker.exitcode})"
                    ) from None
            continue
        if kind == "error":
            raise CutoverError(payload[0])
        if kind == "planned":
            count, generated = payload
            if written is None:  # the first job ready: the written cases go out at once
                written = count
                for position in range(count):
                    tasks.put((position, None))
            elif count != written:
                raise CutoverError(
                    f"parity job {index + 1} of {len(workers)} planned {count} written cases, "
                    f"another {written}: the case files changed while the jobs started"
                )
            if index == _PLANNER:  # the generated cases, drawn by this job alone, then the end
                for offset, case in enumerate(generated):
                    tasks.put((count + offset, case))
                for _ in workers:
                    tasks.put(None)
                if progress is not None:
                    on_result = progress(count + len(generated))
                    for position in sorted(results):  # those that ended before the total was known
                        on_result(results[position])
        elif kind == "result":
            position, result = payload
            results[position] = result
            if on_result is not None:
                on_result(result)
        elif kind == "done":
            done[index] = tuple(payload)
    from .session import finish

    ordered = [results[position] for position in sorted(results)]
    secrets = frozenset().union(*(payload[0] for payload in done.values()))
    _, names, routes, notes, _, checked = done[_PLANNER]
    blocking = {key: calls for payload in done.values() for key, calls in payload[4].items()}
    return finish(
        project, options, ordered, [], _Secrets(secrets), "in-process", names, routes, notes,
        blocking=blocking if checked else None,
    )  # fmt: skip


@dataclass
class _JobFeed:
    """One job's side of the queues (:class:`~.session.Feed`)."""

    index: int
    messages: Any
    tasks: Any

    @property
    def plans(self) -> bool:
        return self.index == _PLANNER

    def publish(self, written: int, generated: list[Case]) -> None:
        self.messages.put(("planned", self.index, written, generated))

    def take(self) -> tuple[int, Case | None] | None:
        task: tuple[int, Case | None] | None = self.tasks.get()
        return task

    def result(self, position: int, result: CaseResult) -> None:
        self.messages.put(("result", self.index, position, result))


def parity_database() -> AbstractContextManager[DatabaseURL]:
    """The throwaway cluster a parity session runs on when given no database (one per job). Defined here,
    where a job can start it before importing the session's modules, and used by the session too."""
    from ..embedded import throwaway_database

    return throwaway_database("cutover-parity-pg-", name="parity")


def _job(
    project: ProjectConfig, options: SessionOptions, index: int, jobs: int, messages: Any, tasks: Any
) -> None:
    """One job: the cases the queue hands it, every result sent as it ends; nothing written (the parent
    does). Its throwaway database starts on a thread while the session's modules are imported: the start
    mostly waits (initdb, then pg_ctl polling the new server), the imports take 0.4 s of CPU."""
    from concurrent.futures import ThreadPoolExecutor

    # Started by a shell in the background (or by a test runner), SIGINT may come in ignored: _stop needs it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mine = replace(options, write_report=False, junit=None)
    try:
        with ExitStack() as stack, ThreadPoolExecutor(1, thread_name_prefix="parity-job-start") as pool:
            starting = pool.submit(stack.enter_context, parity_database())
            from .session import run_in_process

            found = run_in_process(
                project, mine, feed=_JobFeed(index, messages, tasks), started=starting.result()
            )
    except KeyboardInterrupt:  # stopped by the parent: the session's own clean-up has run
        return
    except CutoverError as exc:
        messages.put(("error", index, f"parity job {index + 1} of {jobs}: {exc}"))
        return
    except Exception as exc:  # an unexpected failure of the job: one line, as any other setup error
        messages.put(("error", index, f"parity job {index + 1} of {jobs} failed: {described(exc)}"))
        return
    messages.put((
        "done", index, frozenset(found.redactor.secrets), found.names, found.routes, found.notes,
        found.blocking, found.blocking_checked,
    ))  # fmt: skip
