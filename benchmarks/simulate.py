"""1,000 committee scenarios over every commune of the register, through the same pricing code.

    python benchmarks/simulate.py                  # uses benchmarks/out/inputs (made by national.py)
    python benchmarks/simulate.py --scenarios 200

Prints the time to load the year once, the time per scenario (median of all) and the
total, plus one rate solve (--cible) for scale. A report, never an assertion.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--inputs", type=Path, default=ROOT / "benchmarks" / "out" / "inputs")
    args = parser.parse_args()
    if not (args.inputs / "adhesions.csv").exists():
        from benchmarks.national import generate

        generate(args.inputs)
    from billing.year import prepare_year
    from billing.core.simulate import billed_total, simulate, solve_rate
    from billing.inputs.scenarios import apply_settings

    start = time.perf_counter()
    data = prepare_year(args.inputs, 2024)
    loaded = time.perf_counter() - start
    times = []
    totals = []
    for index in range(args.scenarios):
        settings = [f"part_eleve={1 + index / 1000:.3f}", f"part_ecole={100 + index % 100}",
                    f"plancher={50 + index % 7 * 10}"]
        t0 = time.perf_counter()
        scenario = simulate(data.billing_base, apply_settings(data.tariff, settings), annee=2024, name=str(index))
        totals.append(billed_total(scenario.priced))
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    solution = solve_rate(data.billing_base, data.tariff, totals[len(totals) // 2], annee=2024)
    solve = time.perf_counter() - t0
    print(f"communes: {data.billing_base.height}")
    print(f"load + validate once        : {loaded:8.2f} s")
    print(f"{args.scenarios} scenarios            : {sum(times):8.2f} s  "
          f"(median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms per scenario)")
    print(f"one --cible solve           : {solve:8.2f} s  (part_eleve = {solution.value_text})")


if __name__ == "__main__":
    main()
