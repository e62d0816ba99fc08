"""Blocking calls on the event loop, found per request while the modern app runs in-process.

The classic port bug is code that looks async and is not: a synchronous database session, ``requests``,
``time.sleep`` or password hashing inside ``async def``. It passes every functional test and serialises
the whole service under load. While a :class:`BlockingDetector` is active, two things are watched, and
only while the modern app handles a request on its event loop (a context variable set by the ASGI
middleware :meth:`BlockingDetector.wrap`; the toolkit's own resets and snapshots, the legacy's thread, the
app's lifespan and its worker threads are never counted):

1. **Known blocking functions** (``kind = "call"``): blockbuster's list (``time.sleep``, blocking
   ``socket``/``ssl`` I/O, file I/O, ``os`` calls, ``sqlite3``, contended locks, ``input``) plus
   :data:`EXTRA_FUNCTIONS` (psycopg's synchronous wait, which is where a sync psycopg query or connect
   waits for the server; PBKDF2, scrypt, bcrypt and argon2 hashing). blockbuster decides, with its own
   exceptions (a non-blocking socket, stdout, the import system...), whether a call would block; where it
   would raise ``BlockingError`` the call is recorded instead and then allowed to run, timed: a parity
   run still compares the response. Any duration counts: the call is the bug, however fast the local
   database answers.
2. **Slow steps** (``kind = "step"``): one step of the request's work on the loop (one callback,
   ``asyncio.Handle._run``) that burns at least :data:`SLOW_STEP_CPU` of the thread's CPU time beyond the
   recorded calls and the garbage collector's time. CPU time rather than wall time, so that a busy
   machine preempting the process is not taken for a blocking call; a step that imported a module is a
   first use, and not reported. A watchdog thread samples the loop thread's stack in a step that has run
   :data:`SAMPLE_AFTER` (it looks every :data:`WATCH_PERIOD` while a request is in flight, and sleeps
   otherwise), which names the code that held the loop.

Each finding names the function, the packages between the project's code and it (``via``), the innermost
frame of the project's own code (under the project root, outside any installed package and outside the
toolkit), and how long it held the loop. Tolerated: a library's own file-system metadata lookups
(:data:`METADATA`) and ``logging`` handlers' writes. asyncio's debug mode is not used: it records a
traceback for every callback (reading source files on the loop) and warns about unrelated resources.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator, MutableSequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from ..errors import CutoverError

__all__ = [
    "EXTRA_FUNCTIONS",
    "METADATA",
    "SAMPLE_AFTER",
    "SLOW_STEP_CPU",
    "WATCH_PERIOD",
    "BlockingCall",
    "BlockingDetector",
    "WatchedTarget",
    "summary",
]

# A step of a handler that is not blocking costs well under a millisecond of CPU; PBKDF2 at Django's
# 10^6 iterations costs ~0.5 s, a JSON dump of a big page a few ms. 50 ms of one thread's CPU in one step
# is work that belongs in a thread (or a smaller page).
SLOW_STEP_CPU = 0.050
# The watchdog looks at the loop thread every WATCH_PERIOD while a request is in flight (and sleeps
# otherwise), and samples the stack of a step that has run SAMPLE_AFTER: a step long enough to report
# (SLOW_STEP_CPU) is still running at one of its ticks at least.
WATCH_PERIOD = SLOW_STEP_CPU / 2
SAMPLE_AFTER = 0.010
# Blocking functions blockbuster does not know: (module path, attribute), patched when importable.
EXTRA_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("psycopg.waiting", "wait"),  # every synchronous psycopg 3 query waits for the server here
    ("psycopg.waiting", "wait_conn"),  # ... and every synchronous connect
    ("hashlib", "pbkdf2_hmac"),
    ("hashlib", "scrypt"),
    ("bcrypt", "hashpw"),
    ("bcrypt", "checkpw"),
    ("argon2.low_level", "hash_secret"),
    ("argon2.low_level", "verify_secret"),
)

# File-system metadata calls (blockbuster's os.* functions but reads and writes) count only when the
# project's own code makes them: libraries make them once per process or connection on the loop
# (FastAPI locating an endpoint's source file on its first request, asyncpg looking for ~/.pgpass on
# connect), which is tolerated, and not the port's mistake.
METADATA = ("os.stat", "os.path.", "os.access", "os.getcwd", "os.readlink", "os.listdir", "os.scandir",
            "os.statvfs")  # fmt: skip

Kind = Literal["call", "step"]


@dataclass(frozen=True)
class BlockingCall:
    """One blocking call (or slow step) made while the modern app handled a request on its loop."""

    function: str  # "time.sleep", "socket.socket.recv_into", "hashlib.pbkdf2_hmac", or the step's code
    frame: str  # "app/routes.py:42 in handler": the project's own code that called it ("" if none)
    held: float  # seconds the loop was held
    via: tuple[str, ...] = ()  # installed packages between the project's code and the call, outer first
    kind: Kind = "call"

    @property
    def culprit(self) -> str:
        """``socket.socket.recv_into (via httpx > httpcore)``: what blocked."""
        return self.function + (f" (via {' > '.join(self.via)})" if self.via else "")

    def describe(self) -> str:
        held = f"{self.held * 1000:.{1 if self.held >= 0.0001 else 3}f} ms"  # a non-blocking-fast call: µs
        where = f" at {self.frame}" if self.frame else " (no frame of the project's own code)"
        if self.kind == "step":
            return f"{self.culprit} held the loop {held} (CPU in one step, no known blocking call){where}"
        return f"{self.culprit} held the loop {held}{where}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "function": self.function,
            "via": list(self.via),
            "frame": self.frame,
            "held_ms": round(self.held * 1000, 3),
        }


@dataclass
class _Request:
    """One request the app is handling: what blocked during it."""

    loop: asyncio.AbstractEventLoop
    calls: list[BlockingCall] = field(default_factory=list)
    open: bool = True


_CURRENT: ContextVar[_Request | None] = ContextVar("cutover_blocking_request", default=None)


class _Frames:
    """Which frames are the project's own code: under its root, outside installed packages and the toolkit."""

    def __init__(self, root: Path) -> None:
        self.root = str(root.resolve()) + "/"
        paths = sysconfig.get_paths()
        installed = {paths.get(k, "") for k in ("purelib", "platlib", "stdlib", "platstdlib")}
        installed |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
        self.foreign = tuple(str(Path(p).resolve()) + "/" for p in installed if p)
        self.toolkit = str(Path(__file__).resolve().parents[1]) + "/"
        self._cache: dict[str, str | None] = {}

    def package(self, filename: str) -> str | None:
        """The installed package of ``filename``; "" for the project's own code; None for the rest
        (the standard library, the toolkit, frozen modules)."""
        if filename in self._cache:
            return self._cache[filename]
        result: str | None = None
        for marker in ("/site-packages/", "/dist-packages/"):
            if marker in filename:
                result = filename.split(marker, 1)[1].split("/", 1)[0].removesuffix(".py")
                break
        else:
            path = filename if filename.startswith("/") else ""
            if (
                path.startswith(self.root)
                and not path.startswith(self.toolkit)
                and not any(path.startswith(f) for f in self.foreign)
            ):
                result = ""
        self._cache[filename] = result
        return result

    def describe(self, innermost: FrameType | None) -> tuple[str, tuple[str, ...]]:
        """The innermost project frame (``path:line in function``) and the packages called from it."""
        via: list[str] = []
        frame = innermost
        while frame is not None:
            package = self.package(frame.f_code.co_filename)
            if package == "":
                where = Path(frame.f_code.co_filename).relative_to(self.root)
                return f"{where}:{frame.f_lineno} in {frame.f_code.co_name}", tuple(reversed(via))
            if package and package not in via:
                via.append(package)
            frame = frame.f_back
        return "", tuple(reversed(via))

    def code(self, innermost: FrameType | None) -> str:
        """The innermost Python function running (``module.function``)."""
        if innermost is None:
            return "<unknown>"
        module = innermost.f_globals.get("__name__", "?")
        return f"{module}.{innermost.f_code.co_qualname}"


class _Patch:
    """One blocking function replaced by a recorder that asks blockbuster's checker whether it blocks."""

    def __init__(self, detector: BlockingDetector, target: Any) -> None:
        self.target = target  # a blockbuster BlockBusterFunction
        self.detector = detector

    def activate(self) -> None:
        from blockbuster import BlockingError

        target = self.target
        target.activate()  # blockbuster's own checker, which raises BlockingError
        checker = getattr(target.module, target.func_name)
        original = target.original_func
        name = target.full_name
        metadata = name.startswith(METADATA)
        detector = self.detector
        inside = detector._inside

        def recorder(*args: Any, **kwargs: Any) -> Any:
            request = _CURRENT.get()
            if (
                request is None
                or not request.open
                or getattr(inside, "value", False)
                or asyncio._get_running_loop() is not request.loop
            ):
                return original(*args, **kwargs)
            try:
                return checker(*args, **kwargs)
            except BlockingError:
                pass  # it blocks the loop: run it, timed, and record it
            inside.value = True
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                held = time.perf_counter() - started
                inside.value = False
                detector._record_call(request, name, held, sys._getframe(1), metadata=metadata)

        _install(target.module, target.func_name, recorder)

    def deactivate(self) -> None:
        self.target.deactivate()


def _install(owner: Any, name: str, function: Callable[..., Any]) -> None:
    try:
        setattr(owner, name, function)
    except TypeError:  # a built-in type (socket methods are Python, locks are not): as blockbuster does
        import forbiddenfruit

        forbiddenfruit.curse(owner, name, function)


def _functions() -> list[Any]:
    """blockbuster's blocking functions and :data:`EXTRA_FUNCTIONS`, as BlockBusterFunctions."""
    import importlib

    from blockbuster import BlockBuster, BlockBusterFunction

    functions = list(BlockBuster().functions.values())
    for module_name, attribute in EXTRA_FUNCTIONS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            functions.append(BlockBusterFunction(module, attribute))
    # Logging writes its records where the project configured it (a file handler, say): a small, tolerated
    # write that QueueHandler would take off the loop; it is not the bug this check is after.
    for function in functions:
        if function.full_name.startswith(("io.", "os.")):
            function.can_block_in("logging/__init__.py", {"emit", "flush", "handle"})
    return functions


class BlockingDetector:
    """Finds blocking calls made while the wrapped ASGI app handles requests (see the module docstring).

    A context manager: functions are patched on entry and restored on exit. :meth:`wrap` the app before
    serving it; :meth:`target` wraps the target that calls it, which keeps what each request found.
    """

    def __init__(self, root: Path, *, slow_step_cpu: float = SLOW_STEP_CPU) -> None:
        self.frames = _Frames(root)
        self.slow_step_cpu = slow_step_cpu
        self._inside = threading.local()
        self._patches: list[_Patch] = []
        self._finished: list[_Request] = []
        self._step: _Step | None = None
        self._original_run: Callable[..., Any] | None = None
        self._stop = threading.Event()
        self._busy = threading.Event()  # a request is in flight: the watchdog looks
        self._watchdog: threading.Thread | None = None
        self._gc_started = 0.0
        self._gc_spent = 0.0  # CPU seconds the garbage collector took, in whichever thread it ran

    # --- activation ---------------------------------------------------------------------------------

    def __enter__(self) -> BlockingDetector:
        try:
            import blockbuster  # noqa: F401 - a dependency of the toolkit's; a broken install is one line
        except ImportError:
            raise CutoverError(
                "the blocking check needs blockbuster, which is not installed: pip install blockbuster "
                "(a dependency of the toolkit's), or run with --no-blocking-check"
            ) from None
        try:
            for function in _functions():
                patch = _Patch(self, function)
                patch.activate()
                self._patches.append(patch)
            self._patch_steps()
            gc.callbacks.append(self._gc)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self._watchdog = threading.Thread(target=self._watch, name="cutover-blocking-watchdog", daemon=True)
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with suppress(ValueError):
            gc.callbacks.remove(self._gc)
        self._stop.set()
        self._busy.set()
        if self._watchdog is not None:
            self._watchdog.join()
        if self._original_run is not None:
            asyncio.events.Handle._run = self._original_run  # type: ignore[method-assign]
            self._original_run = None
        for patch in reversed(self._patches):
            patch.deactivate()
        self._patches.clear()

    # --- the app and its target ---------------------------------------------------------------------

    def wrap(self, app: Any) -> Any:
        """The ASGI app, with each HTTP request watched (the lifespan is not)."""

        async def watched(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope.get("type") not in ("http", "websocket"):
                await app(scope, receive, send)
                return
            request = _Request(asyncio.get_running_loop())
            token = _CURRENT.set(request)
            self._busy.set()
            try:
                # The app's work starts in a step of its own, one that runs with the request set: the
                # step timing (which reads the context a step starts with) sees all of it.
                await asyncio.sleep(0)
                await app(scope, receive, send)
            finally:
                request.open = False
                self._busy.clear()
                _CURRENT.reset(token)
                self._finished.append(request)

        return watched

    def target(self, target: Any) -> WatchedTarget:
        return WatchedTarget(target, self)

    def take(self) -> list[BlockingCall]:
        """What the requests finished since the last call found (called between requests)."""
        found = [call for request in self._finished for call in request.calls]
        self._finished.clear()
        return found

    # --- recording ----------------------------------------------------------------------------------

    def _record_call(
        self, request: _Request, name: str, held: float, caller: FrameType | None, *, metadata: bool = False
    ) -> None:
        frame, via = self.frames.describe(caller)
        if metadata and via:
            return  # a library's own file-system lookup (see METADATA)
        request.calls.append(BlockingCall(name, frame, held, via))

    def _patch_steps(self) -> None:
        original = asyncio.events.Handle._run
        detector = self

        def _run(self: asyncio.Handle) -> None:
            context = self._context  # type: ignore[attr-defined]
            request = context.get(_CURRENT) if context is not None else None
            if request is None or not request.open or detector._step is not None:
                original(self)
                return
            step = _Step(request, threading.get_ident(), len(request.calls), detector._gc_spent)
            detector._step = step
            try:
                original(self)
            finally:
                detector._step = None
                detector._end_step(step)

        self._original_run = original
        asyncio.events.Handle._run = _run  # type: ignore[method-assign]

    def _end_step(self, step: _Step) -> None:
        cpu = time.thread_time() - step.cpu - (self._gc_spent - step.gc)
        explained = sum(c.held for c in step.request.calls[step.calls :])
        if cpu - explained < self.slow_step_cpu or len(sys.modules) != step.modules:
            return  # a fast step, or one that imported a module (a first use, as blockbuster allows)
        frame, via, code = step.sample or ("", (), "<not sampled>")
        step.request.calls.append(
            BlockingCall(code, frame, time.perf_counter() - step.wall, via, kind="step")
        )

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        # A full collection can take tens of milliseconds in a big process: the runtime's, not the port's.
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self._gc_spent += time.thread_time() - self._gc_started

    def _watch(self) -> None:
        # Samples the loop thread's stack in a step that has run SAMPLE_AFTER: which code holds the loop.
        while not self._stop.is_set():
            if not self._busy.wait(1.0) or self._stop.wait(WATCH_PERIOD):
                continue
            step = self._step
            if step is None or step.sample is not None:
                continue
            if time.perf_counter() - step.wall < SAMPLE_AFTER:
                continue
            frame = sys._current_frames().get(step.thread)
            if frame is None or self._step is not step:
                continue
            where, via = self.frames.describe(frame)
            step.sample = (where, via, self.frames.code(frame))


@dataclass
class _Step:
    request: _Request
    thread: int
    calls: int  # how many calls the request had recorded when the step began
    gc: float  # the collector's time so far
    modules: int = field(default_factory=lambda: len(sys.modules))
    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.thread_time)
    sample: tuple[str, tuple[str, ...], str] | None = None


class WatchedTarget:
    """A target whose requests are watched by a :class:`BlockingDetector`: ``found`` pairs each request
    sent with the blocking calls made while the app handled it."""

    def __init__(self, target: Any, detector: BlockingDetector) -> None:
        self.inner = target
        self.name = target.name
        self.origin = target.origin
        self.detector = detector
        self.found: MutableSequence[tuple[Any, list[BlockingCall]]] = []

    def send(self, request: Any) -> Any:
        self.detector.take()  # nothing found outside a request of this target counts
        response = self.inner.send(request)
        self.found.append((request, self.detector.take()))
        return response

    def calls_for(self, request: Any) -> list[BlockingCall]:
        """The calls found while the app handled ``request`` (the very object sent)."""
        return next((calls for sent, calls in self.found if sent is request), [])

    def close(self) -> None:
        self.inner.close()

    def __iter__(self) -> Iterator[tuple[Any, list[BlockingCall]]]:
        return iter(self.found)


def summary(calls: list[BlockingCall]) -> list[tuple[BlockingCall, int, float]]:
    """The calls grouped by (kind, function, via, frame): one of each, how many, the longest hold."""
    groups: dict[tuple[Any, ...], list[BlockingCall]] = {}
    for call in calls:
        groups.setdefault((call.kind, call.function, call.via, call.frame), []).append(call)
    return [(found[0], len(found), max(c.held for c in found)) for found in groups.values()]
