"""The « Graphiques » sheet of the summary: native bar charts that each say something.

A chart of one category says nothing: the amount billed goes by département, else by EPCI,
groupe or statut, else by size of commune (pupils), whichever first shows two categories
among the billed members. The year against the previous one is told twice: how the billed
total moved from one year to the next (new members, leavers, changes of the continuing
members), and the largest changes among the members billed both years only, so that a new
member never reads as a « variation ».

Every amount is integer cents from the summary's frames; each chart's data table is
written beside it, and the bridge's parts are checked to add up before writing.
"""

from __future__ import annotations

import polars as pl
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.chart.marker import DataPoint
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from billing.core.model import STATUT_LABELS
from billing.render.files import BOLD, EUROS, TITLE, font, header_row, put_euros, put_text

EUROS_ROUND = '#,##0 "€"'
CHART_GROUPS = 15  # bars in the « by … » chart before « Autres »
CHART_TOP = 10
NAVY, GREEN, RED = "2F5597", "2E7D32", "C00000"
SIZES = ((100, "moins de 100 élèves"), (250, "100 à 249 élèves"), (500, "250 à 499 élèves"),
         (1_000, "500 à 999 élèves"), (2_500, "1 000 à 2 499 élèves"), (None, "2 500 élèves et plus"))


def groups(communes: pl.DataFrame, *, key: str, name: str) -> pl.DataFrame:
    """One row per département/EPCI, largest billed amount first; members without one grouped last."""
    return (
        communes.with_columns(pl.col(key).fill_null("—").alias("cle"),
                              pl.col(name).fill_null("(non renseigné)").alias("nom"))
        .group_by("cle")
        .agg(pl.col("nom").first(), pl.len().alias("communes"),
             (pl.col("situation") == "facturee").sum().alias("facturees"),
             pl.col("ecoles").sum(), pl.col("eleves").sum(), pl.col("facture_cents").sum(),
             pl.col("indicatif_cents").sum())
        .sort(["facture_cents", "indicatif_cents", "cle"], descending=[True, True, False])
    )


def charts_sheet(sheet: Worksheet, year, *, new: str, departed: str, check) -> list[str]:
    """Native bar charts over data tables written on the same sheet; returns the charts' titles.
    ``check(label, shown, expected)`` raises when a total shown is not the one expected."""
    sheet["A1"] = f"Graphiques — contributions {year.annee}"
    sheet["A1"].font = TITLE
    sheet["A2"] = "Les tableaux de gauche sont les données des graphiques (montants facturés)."
    sheet["A2"].font = font(italic=True)
    titles: list[str] = []
    row = 4
    billed = year.communes.filter(pl.col("facture_cents") > 0)
    split = _split(billed)
    if split is not None:
        what, labels = split
        title = f"Montant facturé par {what}"
        row = _chart_block(sheet, row, title, (_capitalized(what), "Montant facturé"), labels,
                           horizontal=False)
        titles.append(title)

    top = billed.sort(["facture_cents", "code_insee"], descending=[True, False]).head(CHART_TOP)
    title = f"Les {min(CHART_TOP, top.height)} plus fortes contributions"
    row = _chart_block(sheet, row, title, ("Commune", "Montant facturé"),
                       [(rec["commune"], rec["facture_cents"]) for rec in top.iter_rows(named=True)],
                       horizontal=True)
    titles.append(title)
    if year.comparison is not None:
        row, more = _evolution(sheet, row, year, new=new, departed=departed, check=check)
        titles += more
    for column, width in enumerate((34, 16), start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    return titles


def _split(billed: pl.DataFrame) -> tuple[str, list[tuple[str, int]]] | None:
    """(what, bars) of the first grouping that shows at least two categories of billed members, or None."""
    for key, name, what in (("departement", "departement_nom", "département"), ("epci_siren", "epci_nom", "EPCI"),
                            ("groupe", None, "groupe"), ("statut", None, "statut")):
        if key not in billed.columns or billed[key].fill_null("—").n_unique() < 2:
            continue
        grouped = groups(billed, key=key, name=name or key)
        if key == "departement":
            labels = [(f"{rec['cle']} {rec['nom']}", rec["facture_cents"]) for rec in grouped.iter_rows(named=True)]
        elif key == "statut":
            labels = [(_capitalized(STATUT_LABELS.get(rec["cle"], rec["cle"])), rec["facture_cents"])
                      for rec in grouped.iter_rows(named=True)]
        else:
            labels = [(rec["nom"], rec["facture_cents"]) for rec in grouped.iter_rows(named=True)]
        if len(labels) > CHART_GROUPS:
            rest = sum(cents for _, cents in labels[CHART_GROUPS - 1:])
            labels = labels[:CHART_GROUPS - 1] + [(f"Autres ({len(labels) - CHART_GROUPS + 1})", rest)]
        return what, labels
    bars = []
    low = 0
    for high, label in SIZES:
        pupils = pl.col("eleves") >= low
        if high is not None:
            pupils = pupils & (pl.col("eleves") < high)
        members = billed.filter(pupils)
        if members.height:
            bars.append((f"{label} ({members.height})", int(members["facture_cents"].sum())))
        low = high or 0
    return ("taille de commune", bars) if len(bars) >= 2 else None


def _capitalized(text: str) -> str:
    """« EPCI » stays « EPCI » (str.capitalize would write « Epci »), « statut » becomes « Statut »."""
    return text[:1].upper() + text[1:]


def _evolution(sheet: Worksheet, row: int, year, *, new: str, departed: str, check) -> tuple[int, list[str]]:
    """From last year's billed total to this year's; then the largest changes of members billed both years."""
    frame = year.comparison.with_columns((pl.col("facture_cents") - pl.col("precedent_cents")).alias("delta"))
    before = int(frame["precedent_cents"].sum() or 0)
    joined = frame.filter(pl.col("mouvement") == new)
    left = frame.filter(pl.col("mouvement") == departed)
    staying = frame.filter(pl.col("mouvement").is_null() & (pl.col("precedent_cents") > 0))
    parts = [(f"Facturé {year.annee - 1}", before),
             (f"Communes entrées ({joined.height})", int(joined["delta"].sum() or 0)),
             (f"Communes sorties ({left.height})", int(left["delta"].sum() or 0)),
             (f"Variation des communes reconduites ({staying.height})", int(staying["delta"].sum() or 0)),
             (f"Facturé {year.annee}", year.billed_cents)]
    check(f"évolution {year.annee - 1} → {year.annee} (total des parts)", sum(cents for _, cents in parts[:4]),
          year.billed_cents)
    colors = [NAVY] + [GREEN if cents >= 0 else RED for _, cents in parts[1:4]] + [NAVY]
    titles = [f"Évolution {year.annee - 1} → {year.annee} : entrées, sorties et communes reconduites"]
    row = _chart_block(sheet, row, titles[0], ("Composante", "Montant (€)"), parts, horizontal=False, colors=colors)

    changes = (staying.filter(pl.col("delta") != 0).with_columns(pl.col("delta").abs().alias("ampleur"))
               .sort(["ampleur", "code_insee"], descending=[True, False]).head(CHART_TOP))
    title = (f"Évolution {year.annee - 1} → {year.annee} : les plus fortes variations des communes facturées les "
             f"deux années")
    if changes.height == 0:
        sheet.cell(row, 1, title).font = BOLD
        sheet.cell(row + 1, 1, f"Aucune commune facturée en {year.annee - 1} et en {year.annee} n'a changé de "
                               "montant : pas de variation à montrer.").font = font(italic=True)
        return row + 3, titles
    values = [(rec["commune"], rec["delta"]) for rec in changes.iter_rows(named=True)]
    row = _chart_block(sheet, row, title, ("Commune", "Variation (€)"), values, horizontal=True,
                       colors=[RED if cents < 0 else GREEN for _, cents in values])
    return row, titles + [title]


def _chart_block(sheet: Worksheet, row: int, title: str, headers: tuple[str, str], values: list[tuple[str, int]],
                 *, horizontal: bool, colors: list[str] | None = None) -> int:
    """A small table (label, euros) and its bar chart beside it; returns the next free row.
    ``colors``: one per bar (falls red, rises green); else every bar navy."""
    sheet.cell(row, 1, title).font = BOLD
    head = row + 1
    header_row(sheet, head, headers)
    for offset, (label, cents) in enumerate(values, start=1):
        put_text(sheet.cell(head + offset, 1), label)
        put_euros(sheet.cell(head + offset, 2), cents)
    if not values:
        sheet.cell(head + 1, 1, "Aucune donnée.").font = font(italic=True)
        return head + 4
    last = head + len(values)

    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    chart.style = 10
    chart.title = title
    chart.legend = None
    chart.add_data(Reference(sheet, min_col=2, min_row=head, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=head + 1, max_row=last))
    chart.y_axis.numFmt = EUROS_ROUND
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.x_axis.tickLblPos = "low"  # category names at the edge, clear of negative bars
    if horizontal:
        chart.x_axis.scaling.orientation = "maxMin"  # largest first, at the top
    series = chart.series[0]
    series.graphicalProperties.solidFill = NAVY
    series.graphicalProperties.line.solidFill = NAVY
    series.invertIfNegative = False
    for index, color in enumerate(colors or ()):
        point = DataPoint(idx=index)
        point.graphicalProperties.solidFill = color
        point.graphicalProperties.line.solidFill = color
        series.dPt.append(point)
    series.dLbls = DataLabelList()
    series.dLbls.numFmt = EUROS
    series.dLbls.showVal = True
    for flag in ("showSerName", "showCatName", "showLegendKey", "showPercent", "showBubbleSize"):
        setattr(series.dLbls, flag, False)  # LibreOffice shows whatever is not switched off explicitly
    chart.width = 22
    chart.height = max(7.5, 0.75 * len(values) + 2.5) if horizontal else 9
    sheet.add_chart(chart, f"D{row}")
    rows_used = int(chart.height / 0.5) + 2  # a default row is about 0.5 cm high
    return row + max(rows_used, len(values) + 4)
