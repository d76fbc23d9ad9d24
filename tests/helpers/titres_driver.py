"""Test driver: a process that issues titres into a ledger, to be killed or run twice at once.

Run as ``python tests/helpers/titres_driver.py LEDGER --communes N [--cycles K] [--fixed]
[--hold S] [--wait S]`` with the repository root on PYTHONPATH. Every cycle is one
``issue`` transaction of exactly N titres: the first cycle titles N communes, each later
cycle raises every commune's amount, so each transaction adds N titres complémentaires.
``--fixed`` issues the same claims every cycle (a second cycle must issue nothing).
Prints ``cycle <k> <titres issued>`` after each commit; exit 3 with the message when busy.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from billing.core.corrections import Claim
from billing.ledger.store import LedgerBusy, RunInfo, open_ledger

ANNEE = 2024


def _claims(communes: int, net: dict[str, int], *, fixed: bool) -> list[Claim]:
    claims = []
    for index in range(communes):
        code = f"59{index:03d}"
        base = 10_000 + 37 * index
        amount = base if fixed else max(net.get(code, 0), base - 1) + 1 + index % 7
        claims.append(Claim(code, f"Commune {index}", amount, ()))
    return claims


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ledger")
    parser.add_argument("--communes", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=0, help="0: until killed")
    parser.add_argument("--fixed", action="store_true")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep the ledger open after issuing")
    parser.add_argument("--wait", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        with open_ledger(args.ledger, wait_seconds=args.wait) as ledger:
            cycle = 0
            while args.cycles == 0 or cycle < args.cycles:
                cycle += 1
                net = ledger.net_by_commune(ANNEE)
                issued = ledger.issue_claims(
                    _claims(args.communes, net, fixed=args.fixed), annee=ANNEE, prefixe="ENT",
                    run=RunInfo.new(ANNEE, version="driver"), date_emission=date(2024, 3, 1),
                    date_echeance=date(2024, 3, 31), deliberation="2023-05", objet="Contribution 2024",
                    imputation="7474")
                print(f"cycle {cycle} {len(issued)}", flush=True)
            time.sleep(args.hold)
    except LedgerBusy as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
