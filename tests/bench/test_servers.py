"""CPU accounting and settling, on real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from cutover.bench.servers import cpu_seconds, cpu_spent, settle, tree_pids, worker_processes

BUSY_THEN_IDLE = "import time\nt = time.time()\nwhile time.time() - t < 1.0: pass\ntime.sleep(30)"


def test_settle_waits_for_leftover_work_and_no_longer():
    proc = subprocess.Popen([sys.executable, "-c", BUSY_THEN_IDLE])
    try:
        waited = settle(lambda: [proc.pid], interval=0.2, timeout=20)
        assert 0.5 <= waited < 20  # it waited for the busy second, then stopped at the first quiet interval
        assert proc.poll() is None  # still running: quiet, not gone
    finally:
        proc.kill()
        proc.wait()


def test_cpu_spent_counts_new_processes_from_zero_and_ignores_gone_ones():
    assert cpu_spent({1: 5.0, 2: 1.0}, {1: 7.5, 3: 0.25}) == 7.5 - 5.0 + 0.25


def test_a_process_tree_and_its_workers():
    code = "import subprocess, sys, time\n" + "\n".join(
        f"p{i} = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])" for i in range(2)
    ) + "\ntime.sleep(30)"  # fmt: skip
    master = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):
            if len(tree_pids(master.pid)) == 3:
                break
            time.sleep(0.05)
        assert len(tree_pids(master.pid)) == 3
        assert worker_processes(master.pid) == 2
        assert set(cpu_seconds(tree_pids(master.pid))) == set(tree_pids(master.pid))
    finally:
        for pid in tree_pids(master.pid)[1:]:
            os.kill(pid, signal.SIGKILL)
        master.kill()
        master.wait()
