"""A run killed at any point leaves the ledger all-or-nothing (DESIGN §5, §8 robustness).

The driver issues transactions of exactly N titres in a loop; we SIGKILL it after a random
delay, reopen, and check: verify() is clean, numbers run 1..n, n is a whole number of
transactions, and every recorded run owns exactly its N titres.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from billing.ledger.store import open_ledger

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "helpers" / "titres_driver.py"
N = 300
KILLS = 25

pytestmark = pytest.mark.slow  # 25 SIGKILLs of a real issuing process


def test_sigkill_at_random_points_leaves_whole_transactions(tmp_path):
    path = tmp_path / "ent-bill.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(20240301)
    committed_seen = 0
    for attempt in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(path), "--communes", str(N), "--wait", "10"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # the first kills can land during start-up or creation; later ones mostly mid-transaction
        time.sleep(rng.uniform(0.2, 0.9))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        out, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, (attempt, err)
        committed_seen += sum(int(line.split()[2]) for line in out.splitlines() if line.startswith("cycle"))

        with open_ledger(path) as ledger:
            assert ledger.verify() == [], attempt  # hashes, chain, numbers 1..n, runs' last titres
            runs = ledger.runs()
            count = max((run["dernier_seq"] for run in runs), default=0)
            assert count % N == 0, (attempt, count)
            assert sorted(run["dernier_seq"] - run["premier_seq"] + 1 for run in runs) == [N] * len(runs)
            # every commit the driver announced is there (it may have committed one more unannounced)
            assert committed_seen <= count <= committed_seen + N, (attempt, committed_seen, count)
            committed_seen = count
    with open_ledger(path, readonly=True) as ledger:
        titres = ledger.titres(2024)
        assert [t.seq for t in titres] == list(range(1, committed_seen + 1))
        assert Counter(t.run_id for t in titres) == {run["run_id"]: N for run in ledger.runs()}
        assert [t.montant_cents for t in titres[:N]] == [10_000 + 37 * i + i % 7 for i in range(N)]
        assert {t.nature for t in titres[N:]} <= {"complementaire"}
    assert committed_seen > 0  # the kills did not all land before the first commit
