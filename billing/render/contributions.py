"""contributions_<year>.xlsx, contributions_<year>.csv and manifest.json (DESIGN §6).

The renderers read the priced frames and never recompute an amount: every euro shown
comes from integer cents; totals are SUM formulas over the displayed rows, and the
Python integer sums are checked against them before writing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence

import polars as pl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter

from billing.core.model import SITUATION_LABELS, STATUT_LABELS, InputHash, Syndicat
from billing.core.money import cents_to_str, ratio_to_str
from billing.core.problems import Problem
from billing.render.files import BOLD, DATE, EUROS, INTEGER, RATE, csv_text, print_setup, write_bytes_atomic
from billing.render.sheetxml import (Column, Formula, Table, add_table, header_cells, save_with_tables,
                                     wrapped_height)

LINE_COLUMN_ORDER = ("part_fixe", "part_ecole", "part_eleve")

CSV_COLUMNS = ("code_insee", "commune", "statut", "situation", "departement", "epci_siren", "ecoles", "eleves",
               "date_debut", "date_fin", "jours", "mois", "facteur_prorata", "facteur_prorata_decimal",
               "montant_annuel", "montant", "montant_indicatif")


def line_columns(lines: pl.DataFrame) -> list[tuple[str, str]]:
    """(code, header) of every line kind present, in notice order."""
    present = lines.group_by("code").agg(pl.col("ordre").min(), pl.col("libelle").first()).to_dicts()

    def key(item):
        code = item["code"]
        if code in LINE_COLUMN_ORDER:
            return (0, LINE_COLUMN_ORDER.index(code), 0)
        if code.startswith("tranche_"):
            return (1, int(code.split("_")[1]), 0)
        return (2, {"part_classe": -3, "part_habitant": -2, "strate": -1,  # DESIGN §4b parts, after the pupils
                    "repartition": 0, "plancher": 1, "plafond": 2, "prorata": 3}.get(code, 9), 0)

    headers = {"part_fixe": "Part fixe", "part_ecole": "Part écoles", "part_eleve": "Part élèves",
               "plancher": "Ajustement plancher", "plafond": "Écrêtement plafond", "prorata": "Prorata temporis",
               "repartition": "Quote-part", "part_classe": "Part classes", "part_habitant": "Part habitants",
               "strate": "Strate de population"}
    return [(item["code"], headers.get(item["code"], f"Tranche {item['code'].split('_')[-1]}"))
            for item in sorted(present, key=key)]


def _wide(priced) -> tuple[pl.DataFrame, list[tuple[str, str]]]:
    kinds = line_columns(priced.lines)
    amounts = priced.lines.group_by("code_insee", "code").agg(pl.col("montant_cents").sum())
    wide = priced.contributions
    for code, _ in kinds:
        part = amounts.filter(pl.col("code") == code).select("code_insee", pl.col("montant_cents").alias(f"l_{code}"))
        wide = wide.join(part, on="code_insee", how="left")
    return wide.sort("code_insee"), kinds


def _contributions_table(priced) -> Table:
    from billing.core.lines import tariff_column_values, tariff_columns

    wide, kinds = _wide(priced)
    extra = tariff_columns(priced)  # §4b columns, after the money ones; none for a year without §4b keys
    fixed = ["Code INSEE", "Commune", "Statut", "Situation", "Département", "EPCI", "Écoles", "Élèves", "Début",
             "Fin", "Jours", "Mois", "Facteur de prorata"]
    money = [header for _, header in kinds] + ["Montant annuel", "Montant dû", "Montant indicatif"]
    text, count, day, euros = Column("text"), Column("int", INTEGER), Column("date", DATE), Column("euros", EUROS)
    wrapped = Column("text", wrap=True)
    # the prorata « 306/366 » right-aligned: left-aligned, it read on from the months (« 10 306/366 »)
    # statut and situation are fixed labels sized to fit one line: wrapped, the row-height estimate
    # doubled every conditional member's row for « conditionnelle » and « indicative (non facturée) »
    data = (text, wrapped, text, text, wrapped, wrapped, count, count, day, day, Column("int"), Column("int"),
            Column("text", align="right")) + (euros,) * len(money)
    # the §4b columns centred: right-aligned counts ran into the text beside them (« 1 651 référentiel »,
    # « 3 second groupe ») under headers that sat at the other edge
    # (the seuil's « sous le seuil (15,00 €) », wider than its column, stays left: centred, it lost its start)
    data += tuple(Column("int", INTEGER, align="center") if key in ("classes", "population", "strate")
                  else text if key == "sous_seuil" else Column("text", align="center") for key, _ in extra)
    total = (Column("text", bold=True),) + (None,) * (len(fixed) - 1) + (Column("formula", EUROS, bold=True),) * \
        len(money) + (None,) * len(extra)
    first_money = len(fixed) + 1
    last = wide.height + 1
    columns = [f"l_{code}" for code, _ in kinds]

    def rows():
        sums = [0] * len(money)
        for row in wide.iter_rows(named=True):
            billed = row["situation"] == "facturee"
            amounts = [row[name] for name in columns] + [
                row["montant_annuel_cents"] if row["situation"] != "hors_periode" else None,
                row["montant_cents"], row["montant_indicatif_cents"]]
            for index, cents in enumerate(amounts):
                if cents is not None:
                    sums[index] += cents
            yield 0, (row["code_insee"], row["commune"], STATUT_LABELS.get(row["statut"], row["statut"]),
                      SITUATION_LABELS.get(row["situation"], row["situation"]),
                      row.get("departement_nom") or row.get("departement"), row.get("epci_nom"),
                      row["ecoles"], row["eleves"], row["date_debut"], row["date_fin"],
                      row["jours"] if billed else None, row["mois"] if billed else None,
                      f"{row['facteur_num']}/{row['facteur_den']}" if billed else None, *amounts,
                      *tariff_column_values(priced, row, extra))
        yield None, None
        formulas = []
        for offset, cents in enumerate(sums):
            letter = get_column_letter(first_money + offset)
            formulas.append(Formula(f"SUM({letter}2:{letter}{last})", cents))
        yield 1, ("TOTAL des communes facturées (montant dû) et indicatif",) + (None,) * (len(fixed) - 1) + \
            tuple(formulas) + (None,) * len(extra)

    return Table("Contributions", tuple(fixed + money + [header for _, header in extra]),
                 (11, 27, 14, 25, 12, 32, 8, 9, 12, 12, 6, 6, 10) + (13,) * len(money) + (16,) * len(extra),
                 (data, total), rows, "C2",
                 f"A1:{get_column_letter(len(fixed) + len(money) + len(extra))}{last}", header_wrap=True,
                 print_title=f"Contributions {priced.annee} — montants par commune")


def _lines_table(priced) -> Table:
    names = dict(zip(priced.contributions["code_insee"].to_list(), priced.contributions["commune"].to_list()))
    text, wrapped = Column("text"), Column("text", wrap=True)
    # Ordre and Formule centred: they ran into the number beside them (« 1 part_ecole », « 150,00 € produit »)
    data = (text, wrapped, Column("int", align="center"), text, wrapped, Column("int", INTEGER), Column("rate", RATE),
            Column("euros", EUROS), Column("text", align="center"), wrapped)
    fields = ("code_insee", "ordre", "code", "libelle", "quantite", "taux_units", "montant_cents", "formule",
              "detail")

    def rows():
        for (code, ordre, kind, libelle, quantite, taux, montant, formule, detail) in \
                priced.lines.select(fields).iter_rows():
            yield 0, (code, names.get(code), ordre, kind, libelle, quantite, taux, montant, formule, detail)

    return Table("Lignes", ("Code INSEE", "Commune", "Ordre", "Code", "Libellé", "Quantité", "Taux", "Montant",
                            "Formule", "Détail"),
                 (11, 27, 6, 12, 50, 10, 11, 13, 11, 44), (data,), rows, "A2", f"A1:J{priced.lines.height + 1}",
                 header_wrap=True, print_title=f"Contributions {priced.annee} — lignes de calcul")


def _cell(sheet, value, *, bold: bool = False, wrap: bool = False, center: bool = False):
    """A small sheet's cell: text stays text; ``center`` sets a number apart from the text on its right."""
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    if bold:
        cell.font = BOLD
    if wrap:
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="center" if center else None)
    return cell


def write_contributions_workbook(path: Path, *, priced, tariff_description: Sequence[tuple[str, str]],
                                 problems: Sequence[Problem], input_hashes: Sequence[InputHash],
                                 syndicat: Syndicat, version: str, generated_at: datetime,
                                 streamed: bool = True) -> Path:
    """The officer's table: Contributions, Lignes, Anomalies, Paramètres.

    ``tariff_description``: the tariff as (label, value) rows, shown as given in « Paramètres »
    (the inputs stage's ``describe_tariff``).

    ``streamed=False`` writes every cell through openpyxl: the slow reference the tests
    compare the streamed workbook with, cell for cell.
    """
    _check_totals(priced)
    workbook = Workbook(write_only=True)
    sheets = [add_table(workbook, table, streamed=streamed)
              for table in (_contributions_table(priced), _lines_table(priced))]
    _write_small_sheets(workbook, tariff_description=tariff_description, problems=problems,
                        input_hashes=input_hashes, syndicat=syndicat, version=version, generated_at=generated_at,
                        annee=priced.annee)
    return save_with_tables(workbook, sheets, path)


def _write_small_sheets(workbook, *, tariff_description: Sequence[tuple[str, str]], problems: Sequence[Problem],
                        input_hashes: Sequence[InputHash], syndicat: Syndicat, version: str,
                        generated_at: datetime, annee: int) -> None:
    anomalies = workbook.create_sheet("Anomalies")
    print_setup(anomalies, title=f"Contributions {annee} — anomalies des données", title_rows="1:1")
    for index, width in enumerate((14, 20, 7, 14, 20, 60, 44), start=1):
        anomalies.column_dimensions[get_column_letter(index)].width = width
    anomalies.append(header_cells(anomalies, ["Gravité", "Fichier", "Ligne", "Colonne", "Valeur", "Message", "Suggestion"]))
    if not problems:
        anomalies.append(["Aucune anomalie"])
    widths = (14, 20, 7, 14, 20, 60, 44)
    for row, problem in enumerate(problems, start=2):
        height = wrapped_height([(problem.file, widths[1]), (problem.column, widths[3]), (problem.value, widths[4]),
                                 (problem.message, widths[5]), (problem.suggestion, widths[6])])
        if height:
            anomalies.row_dimensions[row].height = height  # before the row is written (write-only sheet)
        anomalies.append([_cell(anomalies, problem.severity, wrap=True), _cell(anomalies, problem.file, wrap=True),
                          _cell(anomalies, problem.row, wrap=True, center=True),
                          _cell(anomalies, problem.column, wrap=True), _cell(anomalies, problem.value, wrap=True),
                          _cell(anomalies, problem.message, wrap=True),
                          _cell(anomalies, problem.suggestion, wrap=True)])

    params = workbook.create_sheet("Paramètres")
    print_setup(params, title=f"Contributions {annee} — paramètres du calcul", landscape=False)
    params.column_dimensions["A"].width = 34
    params.column_dimensions["B"].width = 70
    params.column_dimensions["C"].width = 12
    params.append([_cell(params, "Tarif appliqué", bold=True)])
    for row, (label, value) in enumerate(tariff_description, start=2):
        height = wrapped_height([(label, 34), (value, 70)])
        if height:
            params.row_dimensions[row].height = height
        params.append([_cell(params, label, wrap=True), _cell(params, value, wrap=True)])
    params.append([])
    params.append([_cell(params, "Syndicat", bold=True)])
    for label, value in (("Émetteur", syndicat.nom), ("SIRET", syndicat.siret),
                         ("Ordonnateur", f"{syndicat.qualite}, {syndicat.president}"),
                         ("Comptable public", syndicat.comptable_nom)):
        params.append([_cell(params, label), _cell(params, value)])
    params.append([])
    params.append(header_cells(params, ["Fichier d'entrée", "Empreinte SHA-256", "Taille (octets)"]))
    for item in input_hashes:
        size = WriteOnlyCell(params, value=item.size)
        size.number_format = INTEGER  # « 203 114 » octets, as every count of the workbook
        params.append([_cell(params, item.name), _cell(params, item.sha256), size])
    params.append([])
    params.append([_cell(params, "Version d'ent-bill"), _cell(params, version)])
    params.append([_cell(params, "Produit le"), _cell(params, generated_at.strftime("%d/%m/%Y %H:%M"))])


def _check_totals(priced) -> None:
    """Lines add up to amounts: a broken invariant is a bug, never a document."""
    sums = priced.lines.group_by("code_insee").agg(pl.col("montant_cents").sum().alias("s"))
    joined = priced.contributions.join(sums, on="code_insee", how="left").with_columns(pl.col("s").fill_null(0))
    expected = pl.when(pl.col("situation") == "facturee").then(pl.col("montant_cents")) \
        .when(pl.col("situation") == "indicative").then(pl.col("montant_indicatif_cents")).otherwise(0)
    broken = joined.filter(pl.col("s") != expected)
    if broken.height:
        raise AssertionError(f"lignes et montants divergent pour {broken['code_insee'].to_list()[:5]}")


EXCEL_HEADERS = ("Code INSEE", "Commune", "Statut", "Situation", "Département", "EPCI (SIREN)", "Écoles", "Élèves",
                 "Début", "Fin", "Jours", "Mois", "Facteur de prorata", "Facteur de prorata (décimal)",
                 "Montant annuel", "Montant dû", "Montant indicatif")


def _csv_rows(priced, *, excel: bool):
    """One row per commune. ``excel``: decimal comma, dd/mm/yyyy, French labels, and a prorata written
    « 306 / 366 » (Excel would read « 1/1 » as a date)."""
    def day(value):
        if not value:
            return ""
        return value.strftime("%d/%m/%Y") if excel else value.isoformat()

    def number(text: str) -> str:
        return text.replace(".", ",") if excel else text

    for row in priced.contributions.sort("code_insee").iter_rows(named=True):
        billed = row["situation"] == "facturee"
        indicative = row["montant_indicatif_cents"]
        statut, situation = row["statut"], row["situation"]
        if excel:
            statut, situation = STATUT_LABELS.get(statut, statut), SITUATION_LABELS.get(situation, situation)
        fraction = f"{row['facteur_num']}{' / ' if excel else '/'}{row['facteur_den']}"
        yield [
            csv_text(row["code_insee"]), csv_text(row["commune"]), statut, situation,
            csv_text(row.get("departement")), csv_text(row.get("epci_siren")), row["ecoles"], row["eleves"],
            day(row["date_debut"]), day(row["date_fin"]),
            row["jours"] if billed else "", row["mois"] if billed else "",
            fraction, number(ratio_to_str(row["facteur_num"], row["facteur_den"])),
            number(cents_to_str(row["montant_annuel_cents"])), number(cents_to_str(row["montant_cents"])),
            "" if indicative is None else number(cents_to_str(indicative)),
        ]


def contributions_csv_bytes(priced) -> bytes:
    """The machine-readable copy: UTF-8, ',', one row per commune, byte-identical on re-run."""
    from billing.core.lines import tariff_column_values, tariff_columns

    extra = tariff_columns(priced)  # §4b columns at the end, only when the year uses them
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + tuple(key for key, _ in extra))
    for row, values in zip(priced.contributions.sort("code_insee").iter_rows(named=True),
                           _csv_rows(priced, excel=False)):
        writer.writerow([*values, *("" if v is None else v for v in tariff_column_values(priced, row, extra))])
    return buffer.getvalue().encode("utf-8")


def write_contributions_csv(path: Path, *, priced) -> Path:
    return write_bytes_atomic(path, contributions_csv_bytes(priced))


def competences_csv_bytes(priced) -> bytes:
    """contributions_<year>_competences.csv (DESIGN §4c): one row per member and competence it pays,
    ``montant`` billed as in contributions_<year>.csv (their sum per member is its ``montant`` there)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("code_insee", "competence", "montant"))
    for row in priced.by_competence.sort("code_insee", maintain_order=True).iter_rows(named=True):
        writer.writerow((row["code_insee"], row["competence"], cents_to_str(row["montant_cents"])))
    return buffer.getvalue().encode("utf-8")


def write_competences_csv(path: Path, *, priced) -> Path:
    return write_bytes_atomic(path, competences_csv_bytes(priced))


def write_contributions_excel_csv(path: Path, *, priced) -> Path:
    """What an officer double-clicks in a French Excel: ';', UTF-8 with BOM, « 1234,56 », « 01/03/2024 »."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(EXCEL_HEADERS)
    writer.writerows(_csv_rows(priced, excel=True))
    return write_bytes_atomic(path, ("\ufeff" + buffer.getvalue()).encode("utf-8"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_payload(*, priced, tariff_record: Mapping, input_hashes: Sequence[InputHash], version: str,
                     outputs: Mapping[str, Path], out_dir: Path) -> dict:
    """``tariff_record``: the tariff as JSON-ready values (the inputs stage's ``tariff_to_dict``)."""
    c = priced.contributions
    billed = c.filter(pl.col("situation") == "facturee")
    indicative = c.filter(pl.col("situation") == "indicative")
    return {
        "version": version,
        "annee": priced.annee,
        "tarif": dict(tariff_record),
        "entrees": [{"nom": h.name, "sha256": h.sha256, "taille": h.size} for h in input_hashes],
        "totaux": {
            "communes": c.height,
            "facturees": billed.height,
            "indicatives": indicative.height,
            "hors_periode": c.height - billed.height - indicative.height,
            "ecoles": int(billed["ecoles"].sum() or 0),
            "eleves": int(billed["eleves"].sum() or 0),
            "montant_total": cents_to_str(int(billed["montant_cents"].sum() or 0)),
            "montant_indicatif_total": cents_to_str(int(indicative["montant_indicatif_cents"].sum() or 0)),
        },
        "sorties": [{"nom": str(Path(p).relative_to(out_dir)) if Path(p).is_relative_to(out_dir) else Path(p).name,
                     "sha256": _sha256(Path(p))} for _, p in sorted(outputs.items())],
    }


def write_manifest(path: Path, *, priced, tariff_record: Mapping, input_hashes: Sequence[InputHash], version: str,
                   outputs: Mapping[str, Path], out_dir: Path) -> Path:
    """No timestamp inside: the same inputs give the same manifest (the workbooks carry the date)."""
    payload = manifest_payload(priced=priced, tariff_record=tariff_record, input_hashes=input_hashes,
                               version=version, outputs=outputs, out_dir=out_dir)
    text = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))
