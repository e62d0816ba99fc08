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


def test_cpu_spent_is_the_difference_of_tree_totals():
    # pid 2 ended (its 1.5 s moved into its parent 1's account of finished children); pid 3 was born.
    assert cpu_spent({1: 5.0, 2: 1.0}, {1: 5.0 + 0.5 + 1.5, 3: 0.25}) == 0.5 + 0.5 + 0.25


def test_a_finished_child_s_cpu_stays_in_the_parent_s_account():
    code = (
        "import subprocess, sys, time\n"
        "subprocess.run([sys.executable, '-c', 't = __import__(\"time\").process_time()\\n"
        'while __import__("time").process_time() - t < 0.5: pass\'])\n'
        "time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(200):
            if cpu_seconds([parent.pid]).get(parent.pid, 0) >= 0.5:
                break
            time.sleep(0.05)
        assert cpu_seconds([parent.pid])[parent.pid] >= 0.5  # the child's half second, after it ended
    finally:
        parent.kill()
        parent.wait()


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
