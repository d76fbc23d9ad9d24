"""The whole of France: every commune of the register a member, ~50,000 schools.

    python benchmarks/national.py                 # generate into benchmarks/out/, then time
    python benchmarks/national.py --communes 2000 # a smaller case

Prints one table: each stage's wall time, notices per second for the fast writer and
for the plain openpyxl way measured in the same process (the baseline), and the peak
memory. A report, never an assertion: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
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

    from billing.core.identifiers import uai_key
    from billing.inputs.register import load_register, uai_prefix

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


def _tree_rss_kb(root: int) -> int:
    """Memory of ``root`` and all its descendants, from /proc (Linux): the proportional set size,
    so that pages a forked worker still shares with its parent are counted once, not twice."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as rollup:
                total += next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
                pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_whole(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak MB of the whole process tree, workers included) of one command."""
    import subprocess
    import threading

    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(process.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, errors = process.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} a échoué ({process.returncode}) :\n{errors.decode()}")
    return elapsed, peak / 1024


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished children (the notice workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def profile_notices(notices, folder: Path) -> dict[str, float]:
    """Where one notice's time goes, on one core: CPU milliseconds per notice for each step of the writer
    (the wall time of a shared machine also counts the time others hold the core)."""
    from billing.render.files import make_durable
    from billing.render.notice import _slot_values
    from billing.render.notice_page import package, prepare, sheet_xml

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for count in {len(notice.lines) for notice in notices}:
        prepare(count)
    steps: dict[str, float] = {}
    walls: dict[str, float] = {}

    def step(label, action):  # CPU time (user + system) of this process, and wall time
        start, wall = time.process_time(), time.perf_counter()
        value = action()
        steps[label] = (time.process_time() - start) * 1000 / len(notices)
        walls[label] = (time.perf_counter() - wall) * 1000 / len(notices)
        return value

    values = step("build values", lambda: [_slot_values(notice) for notice in notices])
    sheets = step("sheet XML", lambda: [sheet_xml(len(n.lines), v) for n, v in zip(notices, values)])
    files = step("deflate + zip", lambda: [package(len(n.lines), x) for n, x in zip(notices, sheets)])
    temporaries = [folder / f".{index}.tmp" for index in range(len(files))]

    def write():
        for temporary, data in zip(temporaries, files):
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            os.write(fd, data)
            os.close(fd)

    step("write (temporary files)", write)
    step("on disk (one syncfs per chunk)", lambda: make_durable(folder, temporaries))
    step("rename", lambda: [os.replace(t, folder / f"{index}.xlsx") for index, t in enumerate(temporaries)])
    steps["(file size, bytes)"] = sum(map(len, files)) / len(files)
    return steps, walls


def print_profile(profile: tuple[dict[str, float], dict[str, float]]) -> None:
    steps, walls = profile
    size = steps.pop("(file size, bytes)")
    total = sum(steps.values())
    print(f"\nWhere a notice's time goes (one process, {size:,.0f} bytes per file; CPU = user + system of this "
          "process, wall = also the time others held the core or the disk made us wait):")
    for label, ms in steps.items():
        print(f"  {label:<34} CPU {ms:7.3f} ms  {ms / total:6.1%}   wall {walls[label]:7.3f} ms")
    print(f"  {'total':<34} CPU {total:7.3f} ms  = {1000 / total:,.0f} per second per core "
          f"(wall {sum(walls.values()):.3f} ms)")


def time_stages(args, inputs: Path, timed, notice_cpu: list[float]):
    """Each stage of ``compute`` in this process, ``args.runs`` times, beside the plain ways (once or each run).
    Returns (the notices' paths, the baseline sample, the number billed, the notice writer's profile).
    Over 60 lines: one flat list of timed stages, clearer in one place."""
    from datetime import datetime

    import polars as pl

    from billing.documents import draft_notices
    from billing.year import prepare_year
    from billing.core.pricing import price_year
    from billing.render.contributions import write_contributions_csv, write_contributions_workbook
    from billing.render.notice import write_notice_openpyxl, write_notices
    from billing.render.synthese import write_synthese
    from billing.inputs.config import describe_tariff

    reports = args.out / "reports"
    now = datetime.now()
    for run in range(args.runs):
        print(f"run {run + 1}/{args.runs} …", file=sys.stderr, flush=True)
        shutil.rmtree(reports, ignore_errors=True)
        (reports / "avis").mkdir(parents=True)
        os.sync()  # the previous run's 33,000 files reach the disk before this run is timed
        data = timed("read + validate + resolve + price", lambda: prepare_year(inputs, 2024))
        priced = timed("price (again, alone)", lambda: price_year(data.billing_base, data.tariff, annee=2024))
        timed("write contributions CSV", lambda: write_contributions_csv(reports / "c.csv", priced=priced))
        options = dict(priced=priced, tariff_description=describe_tariff(priced.tariff), problems=data.warnings, input_hashes=data.input_hashes,
                       syndicat=data.syndicat, version="bench", generated_at=now)
        timed("write contributions workbook (streamed)",
              lambda: write_contributions_workbook(reports / "c.xlsx", **options))
        if run == 0:  # the slow reference, once
            timed("write contributions workbook (plain openpyxl)",
                  lambda: write_contributions_workbook(reports / "plain.xlsx", streamed=False, **options),
                  "not compute")
        billed = priced.contributions.filter(pl.col("situation") == "facturee").height
        notices = timed("build notice values", lambda: draft_notices(data))
        paths = timed("write notices (fast, parallel)", lambda: write_notices(notices, reports / "avis"))
        baseline_dir = reports / "baseline"
        baseline_dir.mkdir()
        sample = notices[: args.baseline]
        timed(f"write {len(sample)} notices (plain openpyxl)",
              lambda: [write_notice_openpyxl(n, baseline_dir / f"{i}.xlsx") for i, n in enumerate(sample)],
              "not compute")
        summary = dict(priced=priced, tariff_description=describe_tariff(priced.tariff), previous=None,
                       previous_source=None, budget=None, syndicat=data.syndicat, input_hashes=data.input_hashes,
                       generated_at=now)
        timed("write summary (streamed)", lambda: write_synthese(reports / "s.xlsx", **summary))
        if run == 0:  # the slow reference, once
            timed("write summary (plain openpyxl)", lambda: write_synthese(reports / "p.xlsx", streamed=False,
                                                                             **summary), "not compute")
        cpu_before = _cpu_seconds()
        timed("write notices again, CPU of every process", lambda: write_notices(notices, reports / "avis"),
              "not compute")
        notice_cpu.append(_cpu_seconds() - cpu_before)
        timed("notices + contributions wb + summary, overlapped",
              lambda: overlapped(notices, reports / "avis2", lambda: (
                  write_contributions_workbook(reports / "c2.xlsx", **options),
                  write_synthese(reports / "s2.xlsx", **summary))), "not compute")
        if run == 0:
            profile = profile_notices(notices[:args.baseline * 10], reports / "profile")

    return paths, sample, billed, profile


def overlapped(notices, folder: Path, meanwhile) -> None:
    """The notices written by the workers while this process writes the other workbooks (``start_notices``)."""
    from billing.render.notice import start_notices

    with start_notices(notices, folder):
        meanwhile()


def time_commands(args, inputs: Path) -> dict:
    """The installed command, as an officer runs it: ``compute`` (each run), ``issue`` into a new ledger,
    ``verify``, ``--help``."""
    script = Path(sys.executable).with_name("ent-bill")  # the installed command, as an officer runs it
    executable = [str(script)] if script.exists() else [sys.executable, "-m", "billing.cli"]
    whole, peaks = [], []
    for run in range(args.runs):
        print(f"ent-bill compute 2024, run {run + 1}/{args.runs} …", file=sys.stderr, flush=True)
        out = args.out / "compute"
        shutil.rmtree(out, ignore_errors=True)
        os.sync()
        elapsed, peak = run_whole(executable + ["--inputs", str(inputs), "--out", str(out), "--ledger",
                                                str(args.out / "compute.duckdb"), "--quiet", "compute", "2024"])
        whole.append(elapsed)
        peaks.append(peak)
    print("ent-bill issue 2024 into a new ledger, then verify …", file=sys.stderr, flush=True)
    ledger = args.out / "issue.duckdb"
    ledger.unlink(missing_ok=True)
    shutil.rmtree(args.out / "issue", ignore_errors=True)
    os.sync()
    issue_seconds, issue_peak = run_whole(executable + ["--inputs", str(inputs), "--out", str(args.out / "issue"),
                                                        "--ledger", str(ledger), "--quiet", "issue", "2024"])
    verify_seconds, _ = run_whole(executable + ["--ledger", str(ledger), "--quiet", "verify"])
    helps = [run_whole(executable + ["--help"])[0] for _ in range(7)]

    return {"whole": whole, "peaks": peaks, "issue": (issue_seconds, issue_peak), "verify": verify_seconds,
            "helps": helps}


def issue_table(fast_rate: float, base_rate: float, cpu_rate: float, summary: float, summary_plain: float,
                whole: float) -> None:
    """Issue 14's table: each row, its ratio against the plain way of the same run, its target."""
    print("\nIssue 14, speed (medians; ratio = the plain openpyxl way in this run / this way)\n")
    print(f"{'what':<40} {'measured':>14} {'ratio':>8}  target")
    print(f"{'xlsx notices (wall)':<40} {fast_rate:>12,.0f}/s {fast_rate / base_rate:>7.1f}×  ≥ 5 000/s")
    print(f"{'xlsx notices (CPU of all procs / cores)':<40} {cpu_rate:>12,.0f}/s {cpu_rate / base_rate:>7.1f}×  "
          "(what the machine gives when not shared)")
    print(f"{'summary workbook, national':<40} {summary:>12.2f} s {summary_plain / summary:>7.1f}×  < 1.5 s")
    print(f"{'whole national `compute` (xlsx only)':<40} {whole:>12.1f} s {'':>8}  < 12 s")


def main() -> None:
    """Time every stage, then print one report (over 60 lines: the report is one flat list of prints)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--communes", type=int, default=None, help="only the first N communes (default: all)")
    parser.add_argument("--baseline", type=int, default=300, help="notices written the plain openpyxl way")
    parser.add_argument("--runs", type=int, default=3, help="runs of each stage; the table shows medians")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()

    import statistics

    timings: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    notice_cpu: list[float] = []
    load_before = os.getloadavg()

    def timed(label, action, note=""):
        start = time.perf_counter()
        value = action()
        timings.setdefault(label, []).append(time.perf_counter() - start)
        notes[label] = note
        return value

    def median(label):
        return statistics.median(timings[label])

    inputs = args.out / "inputs"
    size = timed("generate the inputs", lambda: generate(inputs, communes=args.communes), "not compute")
    paths, sample, billed, profile = time_stages(args, inputs, timed, notice_cpu)

    fast_rate = len(paths) / median("write notices (fast, parallel)")
    base_rate = len(sample) / median(f"write {len(sample)} notices (plain openpyxl)")
    workbook_ratio = median("write contributions workbook (plain openpyxl)") / \
        median("write contributions workbook (streamed)")

    commands = time_commands(args, inputs)
    whole, peaks, (issue_seconds, issue_peak) = commands["whole"], commands["peaks"], commands["issue"]

    print(f"\nNational case: {size['communes']} communes ({billed} billed), {size['schools']} schools; "
          f"medians of {args.runs} runs; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} "
          f"after (2 cores shared: the wall times below include other people's work)\n")
    print(f"{'stage':<46} {'seconds':>9}")
    for label in timings:
        print(f"{label:<46} {median(label):>9.2f}{'' if notes[label] != 'not compute' else '   (not compute)'}")
    core = median("read + validate + resolve + price")
    print(f"\nread + validate + price          : {core:.2f} s   (target < 2 s)")
    print(f"notices, fast writer             : {fast_rate:,.0f} per second (target ≥ 1 000)")
    print(f"notices, plain openpyxl          : {base_rate:,.0f} per second")
    print(f"notices speed-up                 : {fast_rate / base_rate:.1f}×  (target ≥ 3×)")
    print(f"contributions workbook speed-up  : {workbook_ratio:.1f}× over plain openpyxl")
    print(f"whole `ent-bill compute 2024`    : {statistics.median(whole):.1f} s median "
          f"({', '.join(f'{w:.1f}' for w in whole)}) (target < 60 s)")
    print(f"peak memory, compute (all procs) : {max(peaks):.0f} MB (target < 1 024 MB)")
    print(f"`ent-bill --help`                : {statistics.median(commands['helps']):.2f} s median of 7 (target < 0.3 s)")
    print(f"`ent-bill issue 2024`, new ledger: {issue_seconds:.1f} s, {billed} titres, peak {issue_peak:.0f} MB "
          "(one run; no target)")
    print(f"`ent-bill verify`                : {commands['verify']:.1f} s (one run; no target)")

    issue_table(fast_rate, base_rate,
                len(paths) / (statistics.median(notice_cpu) / (os.cpu_count() or 1)),
                median("write summary (streamed)"), median("write summary (plain openpyxl)"),
                statistics.median(whole))
    sequential = sum(median(label) for label in ("write notices (fast, parallel)",
                                                  "write contributions workbook (streamed)", "write summary (streamed)"))
    together = median("notices + contributions wb + summary, overlapped")
    print(f"{'notices + contributions wb + summary':<40} {together:>12.1f} s {sequential / together:>7.1f}×  "
          f"overlapped (start_notices) against one after the other ({sequential:.1f} s)")
    print_profile(profile)


if __name__ == "__main__":
    main()
