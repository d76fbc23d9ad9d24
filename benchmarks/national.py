"""The whole of France: every commune of the register a member, ~50,000 schools.

    python benchmarks/national.py                 # generate into benchmarks/out/, then time
    python benchmarks/national.py --communes 2000 # a smaller case

Prints one table: each stage's wall time, notices per second for the fast writer and
for the plain openpyxl way measured in the same process (the baseline), and the peak
memory. A report, never an assertion: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ("Rentrée scolaire;Région académique;Académie;Département;Commune;Numéro de l'école;"
          "Dénomination principale;Patronyme;Secteur;REP;REP +;Nombre total de classes;Nombre total d'élèves;"
          "Nombre d'élèves en pré-élémentaire hors ULIS;Nombre d'élèves en élémentaire hors ULIS;"
          "Nombre d'élèves en ULIS;Nombre d'élèves en CP hors ULIS;Nombre d'élèves en CE1 hors ULIS;"
          "Nombre d'élèves en CE2 hors ULIS;Nombre d'élèves en CM1 hors ULIS;Nombre d'élèves en CM2 hors ULIS;"
          "tri;Code Postal")


def export_name(libelle: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", libelle.replace("œ", "oe").replace("Œ", "OE"))
    return "".join(c for c in text if not unicodedata.combining(c)).upper()


def generate(folder: Path, *, communes: int | None = None, seed: int = 59) -> dict:
    """An inputs folder at national scale (or the first ``communes`` communes), deterministic."""
    import polars as pl

    from billing.identifiers import uai_key
    from billing.register import load_register, uai_prefix

    rng = random.Random(seed)
    register = load_register()
    com = register.frame.filter(pl.col("type") == "COM").sort("code_insee")
    if communes:
        com = com.head(communes)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in ("syndicat.toml", "tarifs.toml"):
        shutil.copy(ROOT / "inputs" / name, folder / name)
    members = ["code_insee,commune,statut,date_effet,date_retrait"]
    rows = []
    serial_by_dep: dict[str, int] = {}
    schools = 0
    for code, libelle, population, dep, postals in com.select(
            "code_insee", "libelle", "population", "departement", "codes_postaux").iter_rows():
        draw = rng.random()
        if draw < 0.05:
            members.append(f"{code},{libelle},conditionnelle,,")
        elif draw < 0.10:
            members.append(f"{code},{libelle},adherente,{date(2024, rng.randint(2, 12), 1):%d/%m/%Y},")
        elif draw < 0.11:
            members.append(f"{code},{libelle},retiree,01/01/2020,{date(2024, rng.randint(2, 12), 1):%d/%m/%Y}")
        else:
            members.append(f"{code},{libelle},adherente,01/01/2020,")
        pupils = max(8, int((population or 100) * 0.095 * 0.85))
        count = max(1, round(pupils / 160))
        prefix = uai_prefix(dep)
        postal = (postals or [""])[0] or ""
        for index in range(count):
            serial = serial_by_dep.get(prefix, 0) + 1
            serial_by_dep[prefix] = serial
            number = f"{prefix}{serial:04d}"
            uai = number + uai_key(number)
            eleves = pupils // count + (pupils % count if index == 0 else 0)
            rows.append(f"2023;;;;{export_name(libelle)};{uai};ECOLE PRIMAIRE PUBLIQUE;;PUBLIC;0;0;"
                        f"{max(1, eleves // 24)};{eleves};0;{eleves};0;0;0;0;0;0;;{postal}")
            schools += 1
    (folder / "adhesions.csv").write_text("\n".join(members) + "\n", encoding="utf-8")
    (folder / "effectifs.csv").write_text("\ufeff" + HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return {"communes": com.height, "schools": schools}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--communes", type=int, default=None, help="only the first N communes (default: all)")
    parser.add_argument("--baseline", type=int, default=300, help="notices written the plain openpyxl way")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()

    timings: list[tuple[str, float, str]] = []

    def timed(label, action, note=""):
        start = time.perf_counter()
        value = action()
        timings.append((label, time.perf_counter() - start, note))
        return value

    inputs = args.out / "inputs"
    size = timed("generate the inputs", lambda: generate(inputs, communes=args.communes), "not compute")
    import polars as pl

    from billing.pipeline import draft_notices, load_year
    from billing.pricing import price_year
    from billing.render.contributions import write_contributions_csv, write_contributions_workbook
    from billing.render.notice import write_notice_openpyxl, write_notices
    from billing.render.synthese import write_synthese

    reports = args.out / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    (reports / "avis").mkdir(parents=True)
    data = timed("read + validate + resolve", lambda: load_year(inputs, 2024))
    priced = timed("price", lambda: price_year(data.billing_base, data.tariff, annee=2024))
    timed("write contributions CSV", lambda: write_contributions_csv(reports / "c.csv", priced=priced))
    from datetime import datetime

    now = datetime.now()
    timed("write contributions workbook", lambda: write_contributions_workbook(
        reports / "c.xlsx", priced=priced, problems=data.warnings, input_hashes=data.input_hashes,
        syndicat=data.syndicat, version="bench", generated_at=now))
    notices = timed("build notice values", lambda: draft_notices(data, priced))
    paths = timed("write notices (fast, parallel)", lambda: write_notices(notices, reports / "avis"))
    fast_rate = len(paths) / timings[-1][1]
    baseline_dir = reports / "baseline"
    baseline_dir.mkdir()
    sample = notices[: args.baseline]
    timed(f"write {len(sample)} notices (plain openpyxl)",
          lambda: [write_notice_openpyxl(n, baseline_dir / f"{i}.xlsx") for i, n in enumerate(sample)], "not compute")
    base_rate = len(sample) / timings[-1][1]
    timed("write summary", lambda: write_synthese(reports / "s.xlsx", priced=priced, previous=None,
                                                  previous_source=None, budget=None, syndicat=data.syndicat,
                                                  input_hashes=data.input_hashes, generated_at=now))
    billed = priced.contributions.filter(pl.col("situation") == "facturee").height
    print(f"\nNational case: {size['communes']} communes ({billed} billed), {size['schools']} schools\n")
    print(f"{'stage':<42} {'seconds':>9}")
    for label, seconds, _ in timings:
        print(f"{label:<42} {seconds:>9.2f}")
    core = sum(s for label, s, _ in timings if label in ("read + validate + resolve", "price"))
    total = sum(s for label, s, note in timings if note != "not compute")
    print(f"\nread + validate + price        : {core:.2f} s   (target < 2 s)")
    print(f"notices, fast writer           : {fast_rate:,.0f} per second (target ≥ 1 000)")
    print(f"notices, plain openpyxl        : {base_rate:,.0f} per second")
    print(f"speed-up against the baseline  : {fast_rate / base_rate:.1f}×  (target ≥ 3×)")
    print(f"whole compute (without baseline): {total:.1f} s (target < 60 s)")
    print(f"peak memory (this process)     : {peak_mb():.0f} MB (target < 1 024 MB; worker processes not included)")


if __name__ == "__main__":
    main()
