"""A wide catalogue of malformed and hostile inputs, each run through the real command line.

Every case starts from the sample folder (``ent-bill init``), spoils one thing — a folder,
a file, an encoding, a cell, a tariff key, an argument — and runs one command in its own
process (``python -m billing.cli``), measuring wall time and peak memory. It asserts:

- the exit code: 1 for bad data, 2 for a usage mistake, 0 where the input is legitimately
  acceptable (each such case says why in ``why``);
- no « Traceback » anywhere, and no English library message leaking;
- when refused, not one byte changed in the working folder (inputs, output folder, ledger);
- the French message names the file, the row or cell, the column and the value (fragments);
- under 5 s and 300 MB per run.

The module prints a summary (handled / total, slowest, largest) at the end.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import openpyxl
import pytest
from click.testing import CliRunner

from billing.cli import main

# Some 280 runs of the real command in a subprocess (3–4 min): the full suite, not the quick loop.
pytestmark = pytest.mark.slow


ROOT = Path(__file__).resolve().parents[1]
MAX_SECONDS = 5.0
MAX_MB = 300.0
MEASURED: list[tuple[str, float, float, bool]] = []  # (case / command, seconds, peak MB, handled)

V = ("validate", "2024")
C = ("compute", "2024")
D = ("issue", "2024", "--dry-run")
I = ("issue", "2024")  # noqa: E741
E = ("explain", "2024", "Anstaing")
S = ("simulate", "2024", "--set", "part_eleve=1.30")
R = ("reconcile", "2024")
VER = ("verify",)
T = ("titres", "2024")
SAV = ("sauvegarde",)
READERS = (V, C, D, I)  # every command that reads the whole year
EVERY = (V, C, D, I, E, S)


# ----- the sample, a ledger issued from it, the measured run ------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("echantillon")
    result = CliRunner().invoke(main, ["init", str(root / "inputs")])
    assert result.exit_code == 0, result.output
    return root / "inputs"


@pytest.fixture(scope="module")
def issued(sample, tmp_path_factory) -> bytes:
    """The sample's ledger after one ``issue 2024`` (for reconcile, titres, verify, sauvegarde)."""
    root = tmp_path_factory.mktemp("emis")
    result = CliRunner().invoke(main, ["--inputs", str(sample), "--out", str(root / "out"),
                                       "--ledger", str(root / "l.duckdb"), "issue", "2024"])
    assert result.exit_code == 0, result.output
    return (root / "l.duckdb").read_bytes()


@pytest.fixture(scope="module")
def reference(sample, tmp_path_factory) -> bytes:
    root = tmp_path_factory.mktemp("reference")
    result = CliRunner().invoke(main, ["--inputs", str(sample), "--out", str(root / "out"),
                                       "--ledger", str(root / "l.duckdb"), "compute", "2024"])
    assert result.exit_code == 0, result.output
    return (root / "out" / "contributions_2024.csv").read_bytes()


@pytest.fixture(scope="module", autouse=True)
def report_measures():
    yield
    if MEASURED:
        slowest = max(MEASURED, key=lambda m: m[1])
        largest = max(MEASURED, key=lambda m: m[2])
        handled = sum(1 for m in MEASURED if m[3])
        print(f"\n[catalogue hostile] {handled}/{len(MEASURED)} exécutions traitées ; la plus lente {slowest[0]} "
              f"{slowest[1]:.2f} s ; la plus grosse {largest[0]} {largest[2]:.0f} Mo")
        for name, seconds, mb, ok in sorted(MEASURED):
            print(f"  {'ok ' if ok else 'KO '} {name:<60} {seconds:5.2f} s {mb:6.0f} Mo")


_WRAPPER = """
import atexit, runpy, sys
def _peak(path=sys.argv[1]):
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                with open(path, 'w') as out:
                    out.write(line.split()[1])
atexit.register(_peak)
sys.argv = ['ent-bill'] + sys.argv[2:]
runpy.run_module('billing.cli', run_name='__main__', alter_sys=True)
"""


@dataclass
class Run:
    code: int
    output: str
    seconds: float
    peak_mb: float


def ent_bill(work: Path, args: tuple[str, ...], *, inputs: str, out: str, ledger: str) -> Run:
    peak = work / ".peak"
    command = [sys.executable, "-c", _WRAPPER, str(peak), "--inputs", inputs, "--out", out, "--ledger", ledger, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=work, env=env, timeout=30,
                              stdin=subprocess.DEVNULL, errors="replace")
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = -9, f"bloqué plus de 30 s\n{exc.stdout or ''}{exc.stderr or ''}"
    seconds = time.monotonic() - started
    peak_mb = int(peak.read_text()) / 1024 if peak.exists() else float("inf")
    peak.unlink(missing_ok=True)
    return Run(code, output, seconds, peak_mb)


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``: bytes for a file, a marker for anything else (never opened)."""
    found: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.name == ".peak":
            continue
        if path.is_symlink():
            found[key] = ("lien", os.readlink(path))
        elif path.is_dir():
            found[key] = "dossier"
        elif path.is_file():
            found[key] = path.read_bytes()
        else:
            found[key] = "spécial"
    return found


# ----- the catalogue ------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    spoil: Callable[[Path], None]  # receives the working folder (inputs/ inside it)
    commands: tuple[tuple[str, ...], ...] = READERS
    code: int = 1
    expected: tuple[str, ...] = ()  # fragments of the message (whitespace-folded)
    why: str = ""  # for code 0: why the input is legitimately acceptable
    ledger: bool = False  # start from the issued ledger
    same: bool = False  # code 0 and compute: contributions_2024.csv must equal the untouched sample's
    inputs: str = "inputs"  # the --inputs argument, relative to the working folder
    out: str = "out"
    ledger_path: str = "ent-bill.duckdb"


def lines_of(work: Path, name: str) -> list[str]:
    return (work / "inputs" / name).read_text(encoding="utf-8-sig").split("\n")


def write_lines(work: Path, name: str, lines: list[str]) -> None:
    (work / "inputs" / name).write_text("\n".join(lines), encoding="utf-8")


def cell(name: str, line: int, column: str, value: str) -> Callable[[Path], None]:
    """Set the cell (spreadsheet line number, header name) of a sample CSV (all separated by « ; »)."""
    def spoil(work: Path) -> None:
        lines = lines_of(work, name)
        header = lines[0].split(";")
        cells = lines[line - 1].split(";")
        cells[header.index(column)] = value
        lines[line - 1] = ";".join(cells)
        write_lines(work, name, lines)
    return spoil


def replace(name: str, old: str | bytes, new: str | bytes, count: int = 1) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        path = work / "inputs" / name
        if isinstance(old, bytes):
            data = path.read_bytes()
            assert old in data, old
            path.write_bytes(data.replace(old, new, count))
        else:
            text = path.read_text(encoding="utf-8-sig")
            assert old in text, old
            path.write_text(text.replace(old, new, count), encoding="utf-8")
    return spoil


def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        path = work / "inputs" / name
        path.unlink(missing_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return spoil


def both(*spoils: Callable[[Path], None]) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        for one in spoils:
            one(work)
    return spoil


def tarif(key: str, raw: str | None) -> Callable[[Path], None]:
    """Replace (or add, or with None remove) ``key = …`` in the [2024] table of tarifs.toml."""
    def spoil(work: Path) -> None:
        path = work / "inputs" / "tarifs.toml"
        text = path.read_text(encoding="utf-8")
        head, sep, rest = text.partition("[2023]")
        lines = head.split("\n")
        at = next((i for i, line in enumerate(lines) if line.split("=")[0].strip() == key), None)
        if at is None:
            at = next(i for i, line in enumerate(lines) if line.startswith("[2024]")) + 1
            lines.insert(at, f"{key} = {raw}")
        elif raw is None:
            del lines[at]
        else:
            lines[at] = f"{key} = {raw}"
        path.write_text("\n".join(lines) + sep + rest, encoding="utf-8")
    return spoil


def syndicat(key: str, raw: str) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        path = work / "inputs" / "syndicat.toml"
        lines = path.read_text(encoding="utf-8").split("\n")
        at = next(i for i, line in enumerate(lines) if line.split("=")[0].strip() == key)
        lines[at] = f"{key} = {raw}"
        path.write_text("\n".join(lines), encoding="utf-8")
    return spoil


def to_xlsx(name: str, *, sheet: str | None = None, before: Callable | None = None,
            after: Callable | None = None, numbers: tuple[str, ...] = ()) -> Callable[[Path], None]:
    """The sample CSV ``name`` as a workbook; ``before(workbook)`` may add sheets, ``after(ws)`` edit cells."""
    def spoil(work: Path) -> None:
        source = work / "inputs" / name
        rows = [line.split(";") for line in source.read_text(encoding="utf-8-sig").splitlines()]
        workbook = openpyxl.Workbook()
        worksheet = workbook.active
        worksheet.title = sheet or source.stem
        for row in rows:
            worksheet.append([int(v) if rows[0][i] in numbers and v.isdigit() else (v or None)
                              for i, v in enumerate(row)])
        if after:
            after(worksheet)
        if before:
            before(workbook)
        workbook.save(source.with_suffix(".xlsx"))
        source.unlink()
    return spoil


def hidden_first_sheet(workbook) -> None:
    notes = workbook.create_sheet("Notes", 0)
    notes["A1"] = "brouillon"
    notes.sheet_state = "hidden"
    workbook.active = 1


def notes_first_sheet(workbook) -> None:
    notes = workbook.create_sheet("Notes", 0)
    notes["A1"] = "Liste envoyée par la préfecture"


def title_row_merged(worksheet) -> None:
    worksheet.insert_rows(1)
    worksheet["A1"] = "Communes adhérentes au 1er mars 2024"
    worksheet.merge_cells("A1:J1")


def formula_without_value(worksheet) -> None:
    worksheet["M3"] = "=200+42"  # openpyxl stores no cached value: what a generator without Excel writes


def date_text_2_digit_year(worksheet) -> None:
    worksheet["D2"] = "1/3/24"


def merged_data_cells(worksheet) -> None:
    worksheet.merge_cells("B4:C4")  # « commune » and « statut » fused: statut lost


def fifo(name: str) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        path = work / "inputs" / name
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    return spoil


def broken_link(name: str) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        path = work / "inputs" / name
        path.unlink(missing_ok=True)
        os.symlink(work / "nulle-part" / name, path)
    return spoil


def directory(name: str) -> Callable[[Path], None]:
    def spoil(work: Path) -> None:
        path = work / "inputs" / name
        path.unlink(missing_ok=True)
        path.mkdir()
    return spoil


def remove(name: str) -> Callable[[Path], None]:
    return lambda work: (work / "inputs" / name).unlink()


def inputs_is_a_file(work: Path) -> None:
    shutil.rmtree(work / "inputs")
    (work / "inputs").write_text("pas un dossier\n", encoding="utf-8")


def inputs_empty(work: Path) -> None:
    shutil.rmtree(work / "inputs")
    (work / "inputs").mkdir()


def inputs_broken_link(work: Path) -> None:
    shutil.rmtree(work / "inputs")
    os.symlink(work / "ailleurs", work / "inputs")


def inputs_fifo(work: Path) -> None:
    shutil.rmtree(work / "inputs")
    os.mkfifo(work / "inputs")


def lock_file(work: Path) -> None:
    (work / "inputs" / "~$adhesions.xlsx").write_bytes(b"\x0bAgent Comptable" + b"\x00" * 150)


def apple_double(work: Path) -> None:
    (work / "inputs" / "._adhesions.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X" + b"\x00" * 200)


def upper_case_name(work: Path) -> None:
    (work / "inputs" / "adhesions.csv").rename(work / "inputs" / "ADHESIONS.CSV")


def both_csv_and_xlsx(work: Path) -> None:
    shutil.copy(work / "inputs" / "adhesions.csv", work / "inputs" / "copie.csv")
    to_xlsx("copie.csv")(work)
    (work / "inputs" / "copie.xlsx").rename(work / "inputs" / "adhesions.xlsx")


def single_line_10mb(work: Path) -> None:
    (work / "inputs" / "effectifs.csv").write_bytes(b"2023;" * 2_100_000)


def thousand_columns(work: Path) -> None:
    lines = lines_of(work, "adhesions.csv")
    lines = [line + "".join(f";extra{i}" if n == 0 else ";" for i in range(990)) if line else line
             for n, line in enumerate(lines)]
    write_lines(work, "adhesions.csv", lines)


def header_of_separators(work: Path) -> None:
    lines = lines_of(work, "adhesions.csv")
    lines[0] = ";" * 9
    write_lines(work, "adhesions.csv", lines)


def embedded_newline(work: Path) -> None:
    lines = lines_of(work, "adhesions.csv")
    cells = lines[2].split(";")
    cells[1] = '"Anstaing;\nbis"'
    lines[2] = ";".join(cells)
    write_lines(work, "adhesions.csv", lines)


def quoted_separator_ok(work: Path) -> None:
    lines = lines_of(work, "adhesions.csv")
    cells = lines[2].split(";")
    cells[6] = '"2024-01 du 21/02/2024; annexe ""B"""'
    lines[2] = ";".join(cells)
    write_lines(work, "adhesions.csv", lines)


def unbalanced_quote(work: Path) -> None:
    lines = lines_of(work, "adhesions.csv")
    cells = lines[2].split(";")
    cells[1] = '"Anstaing'
    lines[2] = ";".join(cells)
    write_lines(work, "adhesions.csv", lines)


def mixed_line_ends(work: Path) -> None:
    lines = lines_of(work, "effectifs.csv")
    ends = ["\r\n", "\n", "\r"]
    text = "".join(line + ends[i % 3] for i, line in enumerate(lines[:-1])) + lines[-1]
    (work / "inputs" / "effectifs.csv").write_bytes(text.encode("utf-8"))


def invalid_utf8_mid_file(work: Path) -> None:
    path = work / "inputs" / "adhesions.csv"
    data = path.read_bytes().split(b"\n")
    data[49] = data[49].replace(b";adherente;", b";adh\xe9rente\xff;", 1)
    path.write_bytes(b"\n".join(data))


def utf32(work: Path) -> None:
    path = work / "inputs" / "adhesions.csv"
    path.write_bytes(path.read_text(encoding="utf-8-sig").encode("utf-32"))


def bom_in_the_middle(work: Path) -> None:
    lines = lines_of(work, "adhesions.csv")
    lines[9] = "\ufeff" + lines[9]
    write_lines(work, "adhesions.csv", lines)


def many_blank_lines(work: Path) -> None:
    path = work / "inputs" / "adhesions.csv"
    path.write_text(path.read_text(encoding="utf-8-sig") + ";;;;;;;;;\n" * 5 + "\n" * 20_000, encoding="utf-8")


def scenario_folder(work: Path) -> None:
    (work / "scenarios").mkdir()


def scenario_garbage(work: Path) -> None:
    (work / "scenarios.toml").write_bytes(bytes(range(256)) * 40)


def scenario_fifo(work: Path) -> None:
    os.mkfifo(work / "scenarios.toml")


def scenario_ok(work: Path) -> None:
    (work / "scenarios.toml").write_text('[hausse]\npart_eleve = "1.30"\n[baisse]\npart_eleve = "1.10"\n',
                                         encoding="utf-8")


def ledger_under_a_file(work: Path) -> None:
    (work / "fichier").write_text("x\n", encoding="utf-8")


def paiement(column: str, value: str) -> Callable[[Path], None]:
    return cell("paiements.csv", 2, column, value)


def duplicated_reference(work: Path) -> None:
    lines = lines_of(work, "paiements.csv")
    first = lines[1].split(";")
    second = lines[2].split(";")
    second[4] = first[4]
    lines[2] = ";".join(second)
    write_lines(work, "paiements.csv", lines)


A = "inputs/adhesions.csv"
F = "inputs/effectifs.csv"
P = "inputs/paiements.csv"
PUPILS = "Nombre total d'élèves"
TT = "inputs/tarifs.toml"
ST = "inputs/syndicat.toml"

CASES = [
    # --- folders and odd entries
    Case("inputs absent", lambda w: shutil.rmtree(w / "inputs"), (V, C, I, E),
         expected=("w/inputs : dossier des données introuvable", "--inputs")),
    Case("inputs est un fichier", inputs_is_a_file, (V, C, I), expected=("w/inputs : n'est pas un dossier (c'est un "
                                                                           "fichier)",)),
    Case("inputs vide", inputs_empty, (V, C, I), expected=("adhesions", "absent")),
    Case("inputs lien cassé", inputs_broken_link, (V, C, I), expected=("inputs",)),
    Case("inputs est une fifo", inputs_fifo, (V, I), expected=("inputs", "n'est pas un dossier")),
    Case("adhesions.csv fifo", fifo("adhesions.csv"), (V, C, I, E, S),
         expected=("adhesions.csv", "pas un fichier ordinaire")),
    Case("effectifs.csv fifo", fifo("effectifs.csv"), (V, C, I), expected=("effectifs.csv",)),
    Case("effectifs.csv lien cassé", broken_link("effectifs.csv"), (V, C, I), expected=("effectifs.csv",)),
    Case("tarifs.toml fifo", fifo("tarifs.toml"), (V, C, I),
         expected=("inputs/tarifs.toml : ce n'est pas un fichier ordinaire",)),
    Case("syndicat.toml lien cassé", broken_link("syndicat.toml"), (V, C, I), expected=("syndicat.toml",)),
    Case("tarifs.toml dossier", directory("tarifs.toml"), (V, C, S), expected=("tarifs.toml", "dossier")),
    Case("syndicat.toml absent", remove("syndicat.toml"), (V, C, I), expected=("syndicat.toml",)),
    Case("paiements.csv fifo", fifo("paiements.csv"), (R, V), ledger=True, expected=("paiements.csv",)),
    Case("paiements.csv dossier", directory("paiements.csv"), (R,), ledger=True,
         expected=("paiements", "dossier")),
    Case("adhesions.csv et adhesions.xlsx", both_csv_and_xlsx, (V, C, I),
         expected=("« adhesions.csv » et « adhesions.xlsx »", "Gardez-en un seul")),
    Case("fichier verrou ~$adhesions.xlsx", lock_file, (V, C), code=0, same=True,
         why="Excel laisse ce verrou pendant qu'il a le fichier ouvert : ce n'est pas une donnée"),
    Case("fichier ._adhesions.csv de macOS", apple_double, (V,), code=0,
         why="métadonnées qu'un Mac copie sur une clé : ce n'est pas une donnée"),
    Case("ADHESIONS.CSV en majuscules", upper_case_name, (V, C), code=0, same=True,
         why="le nom est reconnu sans tenir compte de la casse"),
    Case("adhesions.xlsx de 0 octet", both(remove("adhesions.csv"), write("adhesions.xlsx", b"")), (V, C, I),
         expected=("inputs/adhesions.xlsx : le fichier est vide",)),
    # --- workbooks
    Case("xlsx tronqué à moitié", both(to_xlsx("adhesions.csv"), lambda w: (w / "inputs" / "adhesions.xlsx").write_bytes(
        (w / "inputs" / "adhesions.xlsx").read_bytes()[:2500])), (V, C, I),
         expected=("inputs/adhesions.xlsx : ce fichier n'est pas un classeur Excel valide", "fichier tronqué")),
    Case("xlsx première feuille masquée", to_xlsx("adhesions.csv", before=hidden_first_sheet), (V, C), code=0,
         same=True, why="la feuille nommée comme le fichier est lue ; une feuille masquée n'est pas les données"),
    Case("xlsx feuille Feuil1", to_xlsx("adhesions.csv", sheet="Feuil1"), (V,), code=0,
         why="une seule feuille : c'est elle"),
    Case("xlsx feuille de notes d'abord", to_xlsx("adhesions.csv", sheet="Feuil2", before=notes_first_sheet),
         (V, C), expected=("inputs/adhesions.xlsx : colonne obligatoire « statut » absente de la feuille « Notes »",
                           "renommez ainsi la feuille")),
    Case("xlsx feuille masquée d'abord, données sur Feuil2",
         to_xlsx("adhesions.csv", sheet="Feuil2", before=hidden_first_sheet), (V, C), code=0, same=True,
         why="une feuille masquée n'est pas les données : la première feuille visible est lue"),
    Case("xlsx titre fusionné au-dessus", to_xlsx("adhesions.csv", after=title_row_merged), (V, C), code=0,
         same=True, why="une ligne de titre au-dessus de l'en-tête est admise"),
    Case("xlsx cellules de données fusionnées", to_xlsx("adhesions.csv", after=merged_data_cells), (V, C),
         expected=("inputs/adhesions.xlsx, ligne 4, colonne « statut »",)),
    Case("xlsx formule sans valeur", to_xlsx("effectifs.csv", after=formula_without_value,
                                             numbers=("Rentrée scolaire", "Nombre total de classes", PUPILS)),
         (V, C), expected=("inputs/effectifs.xlsx, ligne 3, colonne « Nombre total d'élèves »", "M3", "=200+42")),
    Case("xlsx date en texte 1/3/24", to_xlsx("adhesions.csv", after=date_text_2_digit_year), (V, C),
         expected=("inputs/adhesions.xlsx, ligne 2, colonne « date_effet »", "« 1/3/24 »", "année")),
    # --- adhesions values
    Case("date sur 2 chiffres 01/03/24", cell("adhesions.csv", 2, "date_effet", "01/03/24"), (V, C, I),
         expected=(f"{A}, ligne 2, colonne « date_effet » : « 01/03/24 »", "année")),
    Case("date_effet en 2099", cell("adhesions.csv", 3, "date_effet", "01/03/2099"), (V, C), code=0,
         why="DESIGN : un membre sans aucun jour dans l'exercice est « hors période » à 0 € (compté dans le résumé)"),
    Case("date_effet en 2101", cell("adhesions.csv", 3, "date_effet", "01/03/2101"), (V, C, I),
         expected=(f"{A}, ligne 3, colonne « date_effet » : « 01/03/2101 »", "1990-2100")),
    Case("date_retrait avant date_effet", cell("adhesions.csv", 4, "date_retrait", "01/01/2024"), (V, C, I),
         expected=(f"{A}, ligne 4, colonne « date_retrait » : « 01/01/2024 »", "postérieure à la date d'effet")),
    Case("statut mal orthographié", cell("adhesions.csv", 5, "statut", "adherante"), (V, C, D, E),
         expected=(f"{A}, ligne 5, colonne « statut » : « adherante »", "adherente")),
    Case("statut vide", cell("adhesions.csv", 6, "statut", ""), (V, C, I),
         expected=(f"{A}, ligne 6, colonne « statut »",)),
    Case("code_insee en double, noms différents", cell("adhesions.csv", 7, "code_insee", "59005"), (V, C, I),
         expected=(f"{A}, ligne 7, colonne « code_insee » : « 59005 »", "ligne 2")),
    Case("code_insee de 5 espaces", cell("adhesions.csv", 3, "code_insee", "     "), (V, C), code=0, same=True,
         why="un code blanc est un code absent : le nom « Anstaing » désigne une seule commune"),
    Case("code_insee avec lettres", cell("adhesions.csv", 3, "code_insee", "59A13"), (V, C, I),
         expected=(f"{A}, ligne 3, colonne « code_insee » : « 59A13 »",)),
    Case("code_insee corse 2A004", both(cell("adhesions.csv", 3, "code_insee", "2A004"),
                                       cell("adhesions.csv", 3, "commune", "Ajaccio")), (V, C),
         expected=("inputs/effectifs.csv : Ajaccio (2A004), commune facturable, n'a aucune ligne d'effectifs",)),
    Case("code_insee outre-mer 97411", both(cell("adhesions.csv", 3, "code_insee", "97411"),
                                            cell("adhesions.csv", 3, "commune", "Saint-Denis")), (V, C),
         expected=("inputs/effectifs.csv : Saint-Denis (97411), commune facturable, n'a aucune ligne",)),
    Case("code_insee inexistant 59999", cell("adhesions.csv", 3, "code_insee", "59999"), (V, C, I),
         expected=(f"{A}, ligne 3, colonne « code_insee » : « 59999 »",)),
    Case("SIRET à mauvaise clé", cell("adhesions.csv", 2, "siret", "21590005100017"), (V, C, I),
         expected=(f"{A}, ligne 2, colonne « siret » : « 21590005100017 »",)),
    Case("SIRET avec espaces", cell("adhesions.csv", 2, "siret", "215 900 051 00016"), (V, C), code=0, same=True,
         why="un SIRET se tape souvent par groupes de chiffres"),
    Case("nom avec marque RTL et ZWJ", cell("adhesions.csv", 3, "commune", "Ans\u200dtaing\u200f"), (V, C), code=0,
         same=True, why="le code 59013 décide ; le nom qui s'en écarte est un avertissement (README « Names »)"),
    Case("nom avec émoji", cell("adhesions.csv", 3, "commune", "Anstaing 🎉"), (V, C), code=0, same=True,
         why="le code décide, le nom différent est signalé en avertissement ; l'avis porte le nom officiel"),
    Case("nom avec émoji sans code", both(cell("adhesions.csv", 3, "code_insee", ""),
                                          cell("adhesions.csv", 3, "commune", "Anstaing 🎉")), (V, C), code=0,
         same=True, why="un symbole sans lettre ne change pas le nom : « résolu en Anstaing (59013) », averti"),
    Case("nom inconnu sans code", both(cell("adhesions.csv", 3, "code_insee", ""),
                                       cell("adhesions.csv", 3, "commune", "Anstaingville")), (V, C, I),
         expected=(f"{A}, ligne 3, colonne « commune » : « Anstaingville »",)),
    # --- pupils and numbers
    Case("élèves « 1 100,5 »", cell("effectifs.csv", 2, PUPILS, "1 100,5"), (V, C, D),
         expected=(f"{F}, ligne 2, colonne « {PUPILS} » : « 1 100,5 »", "entier")),
    Case("élèves « 1.234 » ambigu", cell("effectifs.csv", 2, PUPILS, "1.234"), (V, C),
         expected=(f"{F}, ligne 2, colonne « {PUPILS} » : « 1.234 »",)),
    Case("élèves « -0 »", cell("effectifs.csv", 2, PUPILS, "-0"), (V,), code=0,
         why="« -0 » vaut 0 : une école sans élève, comptée comme telle"),
    Case("élèves « -1 »", cell("effectifs.csv", 2, PUPILS, "-1"), (V, C),
         expected=(f"{F}, ligne 2, colonne « {PUPILS} » : « -1 »", "négatif")),
    Case("élèves « 12e3 »", cell("effectifs.csv", 2, PUPILS, "12e3"), (V, C),
         expected=(f"{F}, ligne 2, colonne « {PUPILS} » : « 12e3 »",)),
    Case("élèves « NaN »", cell("effectifs.csv", 2, PUPILS, "NaN"), (V, C, I),
         expected=(f"{F}, ligne 2, colonne « {PUPILS} » : « NaN »",)),
    Case("élèves « inf »", cell("effectifs.csv", 2, PUPILS, "inf"), (V, C),
         expected=(f"{F}, ligne 2, colonne « {PUPILS} » : « inf »",)),
    Case("élèves « ∞ »", cell("effectifs.csv", 2, PUPILS, "∞"), (V, C),
         expected=(f"{F}, ligne 2, colonne « {PUPILS} » : « ∞ »",)),
    Case("élèves vide", cell("effectifs.csv", 2, PUPILS, ""), (V, C),
         expected=(f"{F}, ligne 2, colonne « {PUPILS} »",)),
    Case("élèves avec espace insécable", cell("effectifs.csv", 2, PUPILS, "\u00a0268\u00a0"), (V, C), code=0,
         same=True, why="Excel et LibreOffice écrivent des espaces insécables autour des nombres"),
    Case("élèves 1 100 espace fine insécable", both(cell("effectifs.csv", 2, PUPILS, "1\u202f100"),
                                                    cell("effectifs.csv", 2, "Nombre total de classes", "40")),
         (V,), code=0, why="l'espace fine insécable est le séparateur de milliers du français"),
    Case("élèves décimal « 268,0 »", cell("effectifs.csv", 2, PUPILS, "268,0"), (V, C), code=0, same=True,
         why="un nombre entier écrit avec une décimale nulle reste entier"),
    Case("rentrée « 2023abc »", cell("effectifs.csv", 2, "Rentrée scolaire", "2023abc"), (V, C),
         expected=(f"{F}, ligne 2, colonne « Rentrée scolaire » : « 2023abc »",)),
    Case("UAI malformé", cell("effectifs.csv", 2, "Numéro de l'école", "059521Z"), (V, C),
         expected=(f"{F}, ligne 2, colonne « Numéro de l'école » : « 059521Z »",)),
    Case("UAI en double", cell("effectifs.csv", 3, "Numéro de l'école", "0595216Z"), (V, C),
         expected=(f"{F}, ligne 3, colonne « Numéro de l'école » : « 0595216Z »",)),
    Case("secteur « PUBLIK »", cell("effectifs.csv", 2, "Secteur", "PUBLIK"), (V, C),
         expected=(f"{F}, ligne 2, colonne « Secteur » : « PUBLIK »",)),
    Case("effectifs.csv et EFFECTIFS.XLSX", both(lambda w: shutil.copy(w / "inputs" / "effectifs.csv",
                                                                     w / "inputs" / "e.csv"),
                                                to_xlsx("e.csv"),
                                                lambda w: (w / "inputs" / "e.xlsx").rename(w / "inputs" / "EFFECTIFS.XLSX")),
         (V, I), expected=("plusieurs fichiers pour les mêmes données", "EFFECTIFS.XLSX")),
    # --- CSV structure and encodings
    Case("CSV de 10 Mo sur une seule ligne", single_line_10mb, (V, C), expected=("inputs/effectifs.csv",)),
    Case("1 000 colonnes", thousand_columns, (V, C), code=0, same=True,
         why="les colonnes inconnues sont ignorées"),
    Case("en-tête fait de séparateurs", header_of_separators, (V, C),
         expected=(f"{A} : colonne obligatoire « statut » absente ; colonnes trouvées : aucune",)),
    Case("champ entre guillemets avec saut de ligne", embedded_newline, (V, C), code=0, same=True,
         why="CSV standard ; le code 59013 décide, le nom « Anstaing;⏎bis » est un avertissement"),
    Case("saut de ligne entre guillemets, sans code", both(embedded_newline, cell("adhesions.csv", 3, "code_insee", "")),
         (V,), expected=(f"{A}, ligne 3, colonne « commune »",)),
    Case("champ entre guillemets avec séparateur", quoted_separator_ok, (V, C), code=0, same=True,
         why="CSV standard : un « ; » entre guillemets fait partie du texte"),
    Case("guillemet non fermé", unbalanced_quote, (V, C), expected=(f"{A} : guillemet « \" » mal placé ou non refermé à la ligne 3",)),
    Case("fins de ligne mélangées", mixed_line_ends, (V, C), code=0, same=True,
         why="CR, LF et CRLF sont tous des fins de ligne"),
    Case("octets UTF-8 invalides au milieu", invalid_utf8_mid_file, (V, C),
         expected=(f"{A}, ligne 50 : le fichier est en UTF-8 mais la ligne 50 contient des octets invalides",
                   f"{A}, ligne 50, colonne « statut » : « adh�rente� »")),
    Case("Windows-1252 de bout en bout", lambda w: (w / "inputs" / "adhesions.csv").write_bytes(
        (w / "inputs" / "adhesions.csv").read_text(encoding="utf-8-sig").encode("cp1252")), (V, C), code=0,
         same=True, why="ce qu'écrit Excel en français « CSV (séparateur : point-virgule) »"),
    Case("UTF-32 avec BOM", utf32, (V, C), code=0, same=True, why="le BOM dit l'encodage sans ambiguïté"),
    Case("BOM au milieu du fichier", bom_in_the_middle, (V, C), code=0, same=True,
         why="U+FEFF est invisible : recollage de deux exports"),
    Case("20 000 lignes vides à la fin", many_blank_lines, (V, C), code=0, same=True,
         why="les lignes vides ne sont pas des données"),
    Case("UTF-16 sans BOM", lambda w: (w / "inputs" / "adhesions.csv").write_bytes(
        (w / "inputs" / "adhesions.csv").read_text(encoding="utf-8-sig").encode("utf-16-le")), (V, C),
         expected=(f"{A} : ce fichier n'est pas un tableau lisible",)),
    Case("que des lignes vides", write("adhesions.csv", "\n\n\r\n  \n"), (V, I),
         expected=(f"{A} : le fichier est vide",)),
    Case("budget.csv montant « 1e400 »", replace("budget.csv", '"420 000,00"', "1e400"), (V, C),
         expected=("inputs/budget.csv, ligne 2, colonne « montant_prevu » : « 1e400 »",)),
    # --- tarifs.toml
    Case("part_eleve liste", tarif("part_eleve", '["1.20"]'), (V, C, S),
         expected=(f"{TT}, ligne", "2024.part_eleve", '["1.20"]')),
    Case("part_ecole table", tarif("part_ecole", "{ montant = 150 }"), (V, C),
         expected=(f"{TT}, ligne", "2024.part_ecole")),
    Case("rentree en texte « 2023 »", tarif("rentree", '"2023"'), (V, C), code=0, same=True,
         why="« 2023 » entre guillemets est sans ambiguïté l'année 2023"),
    Case("rentree 1800", tarif("rentree", "1800"), (V, C), expected=(f"{TT}, ligne", "2024.rentree", "1800")),
    Case("rentree 2023.0", tarif("rentree", "2023.0"), (V, C), expected=(f"{TT}, ligne", "2024.rentree")),
    Case("mode inconnu", tarif("mode", '"forfaitaire"'), (V, C, S),
         expected=(f"{TT}, ligne", "2024.mode", "forfaitaire")),
    Case("prorata semaines", tarif("prorata", '"semaines"'), (V, C),
         expected=(f"{TT}, ligne", "2024.prorata", "semaines")),
    Case("poids ne faisant pas 1", both(tarif("mode", '"repartition"'), tarif("montant_total", '"100000.00"'),
                                        tarif("poids", "{ eleves = 0.7, ecoles = 0.2 }"),
                                        tarif("part_ecole", None), tarif("part_eleve", None),
                                        tarif("part_fixe", None), tarif("plancher", None), tarif("prorata", None)),
         (V, C), expected=(f"{TT}, ligne", "2024.poids")),
    Case("montant_total négatif", both(tarif("mode", '"repartition"'), tarif("montant_total", '"-100000.00"'),
                                       tarif("poids", "{ eleves = 0.7, ecoles = 0.3 }"),
                                       tarif("part_ecole", None), tarif("part_eleve", None),
                                       tarif("part_fixe", None), tarif("plancher", None), tarif("prorata", None)),
         (V, C), expected=(f"{TT}, ligne", "2024.montant_total", "-100000.00")),
    Case("section « 2024.0 »", replace("tarifs.toml", "[2024]", '["2024.0"]'), (V, C),
         expected=("tarifs.toml", "2024")),
    Case("section « \"2024\" » entre guillemets", replace("tarifs.toml", "[2024]", '["2024"]'), (V, C), code=0,
         same=True, why="en TOML [\"2024\"] et [2024] sont la même table"),
    Case("echeance_jours négatif", tarif("echeance_jours", "-3"), (V, C),
         expected=(f"{TT}, ligne", "2024.echeance_jours", "-3")),
    Case("echeance_jours 99999", tarif("echeance_jours", "99999"), (V, C),
         expected=(f"{TT}, ligne", "2024.echeance_jours", "99999")),
    Case("part_eleve « 1,20 » à la française", tarif("part_eleve", '"1,20"'), (V, C), code=0, same=True,
         why="les nombres sont lus comme on les tape en France"),
    Case("part_eleve flottant 1.2", tarif("part_eleve", "1.2"), (V, C), code=0, same=True,
         why="lu en décimal exact (jamais en flottant) : 1.2 est 1,20 €"),
    Case("part_eleve « 1e400 »", tarif("part_eleve", '"1e400"'), (V, S), expected=(f"{TT}, ligne", "2024.part_eleve")),
    Case("tarifs.toml avec BOM", lambda w: (w / "inputs" / "tarifs.toml").write_bytes(
        b"\xef\xbb\xbf" + (w / "inputs" / "tarifs.toml").read_bytes()), (V,), code=0,
         why="le Bloc-notes de Windows ajoute un BOM UTF-8"),
    # --- syndicat.toml
    Case("IBAN à mauvaise clé", syndicat("iban", '"FR7630001007941234567890186"'), (V, C, I),
         expected=(ST, "iban", "FR7630001007941234567890186")),
    Case("BIC mal formé", syndicat("bic", '"BDFEFRP"'), (V, C), expected=(ST, "bic", "BDFEFRP")),
    Case("SIRET du syndicat faux", syndicat("siret", '"25590019600032"'), (V, C), expected=(ST, "siret")),
    Case("prefixe_titre avec « / »", syndicat("prefixe_titre", '"EN/T"'), (V, I), expected=(ST, "prefixe_titre")),
    Case("prefixe_titre de 200 caractères", syndicat("prefixe_titre", '"' + "E" * 200 + '"'), (V, I),
         expected=(ST, "prefixe_titre")),
    Case("prefixe_titre vide", syndicat("prefixe_titre", '""'), (V, I), expected=(ST, "prefixe_titre")),
    # --- paiements.csv (with titres issued)
    Case("paiement daté 31/12/9999", paiement("date", "31/12/9999"), (R, V), ledger=True,
         expected=(f"{P}, ligne 2, colonne « date » : « 31/12/9999 »",)),
    Case("paiement de 1e400", paiement("montant", "1e400"), (R, V), ledger=True,
         expected=(f"{P}, ligne 2, colonne « montant » : « 1e400 »",)),
    Case("paiement NaN", paiement("montant", "NaN"), (R,), ledger=True,
         expected=(f"{P}, ligne 2, colonne « montant » : « NaN »",)),
    Case("paiement négatif", paiement("montant", "-394,29"), (R,), ledger=True,
         expected=(f"{P}, ligne 2, colonne « montant » : « -394,29 »",)),
    Case("paiement sans montant", paiement("montant", ""), (R,), ledger=True,
         expected=(f"{P}, ligne 2, colonne « montant »",)),
    Case("référence de paiement en double", duplicated_reference, (R, V), ledger=True,
         expected=(f"{P}, ligne 3, colonne « reference »",)),
    # --- ledger and output paths
    Case("registre sous un fichier", ledger_under_a_file, (I,), ledger_path="fichier/l.duckdb",
         expected=("w/fichier du registre des titres l.duckdb est un fichier, pas un dossier", "--ledger")),
    Case("registre sous un fichier, lecture", ledger_under_a_file, (VER, T, SAV), ledger_path="fichier/l.duckdb",
         expected=("w/fichier/l.duckdb n'existe pas", "--ledger")),
    Case("registre est une fifo", lambda w: os.mkfifo(w / "ent-bill.duckdb"), (I, C, VER, T, SAV, R),
         expected=("ent-bill.duckdb n'est pas un fichier ordinaire", "--ledger")),
    Case("--inputs vide", lambda w: None, (V, C), inputs="", code=2, expected=("--inputs", "chemin vide")),
    Case("--ledger vide", lambda w: None, (I, T), ledger_path="", code=2, expected=("--ledger", "chemin vide")),
    Case("--out est une fifo", lambda w: os.mkfifo(w / "sortie"), (C, I), out="sortie",
         expected=("sortie : le dossier de sortie désigne un fichier existant",)),
    # --- arguments
    Case("année 0", lambda w: None, (("validate", "0"), ("compute", "0"), ("titres", "0")), code=2,
         expected=("0",)),
    Case("année -1", lambda w: None, (("validate", "--", "-1"), ("issue", "--", "-1")), code=2, expected=("-1",)),
    Case("année 99999", lambda w: None, (("validate", "99999"), ("explain", "99999", "Anstaing")), code=2,
         expected=("99999",)),
    Case("année 2024abc", lambda w: None, (("compute", "2024abc"), ("simulate", "2024abc")), code=2,
         expected=("2024abc",)),
    Case("année sans tarif 2031", lambda w: None, (("validate", "2031"), ("compute", "2031")),
         expected=("tarifs.toml", "2031")),
    Case("explain nom vide", lambda w: None, (("explain", "2024", ""),), expected=("n'est pas une commune membre",)),
    Case("explain commune non membre 2A004", lambda w: None, (("explain", "2024", "2A004"),), expected=("2A004",)),
    Case("explain nom de 10 000 caractères", lambda w: None, (("explain", "2024", "A" * 10_000),),
         expected=("AAAA",)),
    Case("explain nom avec caractères de contrôle", lambda w: None, (("explain", "2024", "Ans\x1b[2Jtaing"),),
         expected=("commune",)),
    Case("simulate clé vide", lambda w: None, (("simulate", "2024", "--set", "=1.30"),), code=2,
         expected=("--set",)),
    Case("simulate valeur vide", lambda w: None, (("simulate", "2024", "--set", "part_eleve="),), code=2,
         expected=("part_eleve",)),
    Case("simulate valeur NaN", lambda w: None, (("simulate", "2024", "--set", "part_eleve=NaN"),), code=2,
         expected=("part_eleve", "NaN")),
    Case("simulate valeur 1e400", lambda w: None, (("simulate", "2024", "--set", "part_eleve=1e400"),), code=2,
         expected=("part_eleve", "1e400")),
    Case("simulate clé unicode", lambda w: None, (("simulate", "2024", "--set", "pärt_élève=1.30"),), code=2,
         expected=("pärt_élève",)),
    # a malformed --cible is a usage mistake, as a malformed --set: exit 2
    Case("simulate --cible « abc »", lambda w: None, (("simulate", "2024", "--cible", "abc"),), code=2,
         expected=("--cible : « abc » n'est pas un nombre",)),
    Case("simulate --cible « 1e400 »", lambda w: None, (("simulate", "2024", "--cible", "1e400"),), code=2,
         expected=("--cible : « 1e400 » : cible invraisemblable",)),
    Case("simulate --cible négative", lambda w: None, (("simulate", "2024", "--cible", "-5"),), code=2,
         expected=("--cible : la cible doit être un montant positif",)),
    Case("scénario dossier", scenario_folder, (("simulate", "2024", "--scenario", "scenarios"),),
         expected=("scenarios", "dossier")),
    Case("scénario binaire", scenario_garbage, (("simulate", "2024", "--scenario", "scenarios.toml"),),
         expected=("scenarios.toml",)),
    Case("scénario fifo", scenario_fifo, (("simulate", "2024", "--scenario", "scenarios.toml"),),
         expected=("scenarios.toml",)),
    Case("scénario valide", scenario_ok, (("simulate", "2024", "--scenario", "scenarios.toml"),), code=0,
         why="deux variantes bien formées"),
]

PAIRS = [(case, command) for case in CASES for command in case.commands]


def fold(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("case", "command"), PAIRS,
                         ids=[f"{case.name} / {' '.join(command)[:40]}" for case, command in PAIRS])
def test_hostile_input(tmp_path, sample, issued, reference, case, command):
    work = tmp_path / "w"
    work.mkdir()
    shutil.copytree(sample, work / "inputs")
    if case.ledger:
        (work / "ent-bill.duckdb").write_bytes(issued)
    case.spoil(work)
    before = snapshot(work)
    result = ent_bill(work, command, inputs=case.inputs if not case.inputs else str(work / case.inputs),
                      out=str(work / case.out), ledger=str(work / case.ledger_path) if case.ledger_path else "")
    after = snapshot(work)
    flat = fold(result.output)
    missing = [f for f in case.expected if fold(f) not in flat]
    problems = []
    if result.code != case.code:
        problems.append(f"code {result.code} au lieu de {case.code}")
    if "Traceback" in result.output:
        problems.append("trace Python")
    if case.code != 0 and after != before:
        problems.append(f"écrit : {sorted(k for k in set(after) | set(before) if after.get(k) != before.get(k))[:5]}")
    if case.code == 0 and command == V and after != before:
        problems.append("validate a écrit")
    if case.code == 0 and {k: v for k, v in after.items() if k.startswith("inputs")} != \
            {k: v for k, v in before.items() if k.startswith("inputs")}:
        problems.append("les données ont changé")
    if case.code == 0 and case.same and command == C:
        written = work / case.out / "contributions_2024.csv"
        if not written.exists() or written.read_bytes() != reference:
            problems.append("contributions différentes de l'échantillon")
    if case.code != 0 and missing:
        problems.append(f"message sans {missing}")
    if result.seconds >= MAX_SECONDS or result.peak_mb >= MAX_MB:
        problems.append(f"{result.seconds:.1f} s, {result.peak_mb:.0f} Mo")
    MEASURED.append((f"{case.name} / {' '.join(command)[:30]}", result.seconds, result.peak_mb, not problems))
    assert not problems, f"{problems}\n{result.output[-3000:]}"


def test_the_catalogue_is_wide():
    assert len(CASES) >= 60 and len(PAIRS) >= 150
    assert all(case.why for case in CASES if case.code == 0)
