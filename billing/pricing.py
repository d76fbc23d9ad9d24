"""Pure pricing: billing base + tariff -> contributions and their notice lines (DESIGN §4).

No I/O. Money is integer cents, unit prices integer 1/10 000 €, every line rounded
half-up by integer arithmetic; the barème is computed column-wise in polars (Int64),
the répartition with Python integers/fractions (exact whatever the sums).

contributions (one row per member, sorted by code_insee):
    code_insee, commune, statut, situation (facturee | indicative | hors_periode), ecoles,
    eleves, population, date_debut, date_fin, jours, jours_annee, mois, facteur_num,
    facteur_den, montant_annuel_cents, montant_cents, montant_indicatif_cents, + passthrough.
lines (one row per notice line, sorted by code_insee, ordre):
    code_insee, ordre, code, libelle, quantite, taux_units, montant_cents, formule, detail.
    formule: produit = half_up(quantite × taux_units / 100); prorata = half_up(subtotal ×
    facteur_num / facteur_den) − subtotal; ajustement = target − subtotal; valeur = amount.
Lines add up to montant_cents (facturee) or montant_indicatif_cents (indicative).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

import polars as pl

from billing.model import Tariff
from billing.money import div_half_up, format_euros, format_rate

PASSTHROUGH = ("departement", "departement_nom", "epci_siren", "epci_nom", "mairie_adresse", "siret", "groupe",
               "date_effet", "date_retrait", "debiteur", "region", "region_nom", "deliberation_commune",
               "deliberation_syndicat", "delegue", "source_row")

LINE_SCHEMA = {
    "code_insee": pl.Utf8, "ordre": pl.Int64, "code": pl.Utf8, "libelle": pl.Utf8, "quantite": pl.Int64,
    "taux_units": pl.Int64, "montant_cents": pl.Int64, "formule": pl.Utf8, "detail": pl.Utf8,
}
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


class PricingError(ValueError):
    """The tariff cannot be applied to these members (French message)."""


@dataclass(frozen=True)
class Priced:
    annee: int
    tariff: Tariff
    contributions: pl.DataFrame
    lines: pl.DataFrame


def _half_up(numerator: pl.Expr, denominator: int | pl.Expr) -> pl.Expr:
    """Integer half-up division for numerator ≥ 0: (2n + d) // (2d)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _fmt_int(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def _fmt_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def membership_frame(base: pl.DataFrame, annee: int, prorata: str) -> pl.DataFrame:
    """Situation, billed period and prorata factor of every member for ``annee``."""
    first, last = date(annee, 1, 1), date(annee, 12, 31)
    days_in_year = (last - first).days + 1
    billable = (
        pl.col("statut").is_in(["adherente", "retiree"]) & pl.col("date_effet").is_not_null()
        & (pl.col("date_effet") <= last)
        & (pl.col("date_retrait").is_null() | (pl.col("date_retrait") > first))
    )
    situation = (
        pl.when(billable).then(pl.lit("facturee"))
        .when(pl.col("statut") == "conditionnelle").then(pl.lit("indicative"))
        .otherwise(pl.lit("hors_periode"))
    )
    debut = pl.max_horizontal(pl.col("date_effet"), pl.lit(first))
    fin = pl.min_horizontal(pl.col("date_retrait").dt.offset_by("-1d").fill_null(pl.lit(last)), pl.lit(last))
    frame = base.with_columns(situation.alias("situation")).with_columns(
        pl.when(pl.col("situation") == "facturee").then(debut).alias("date_debut"),
        pl.when(pl.col("situation") == "facturee").then(fin).alias("date_fin"),
    )
    jours = ((pl.col("date_fin") - pl.col("date_debut")).dt.total_days() + 1).cast(pl.Int64)
    mois = (pl.col("date_fin").dt.month().cast(pl.Int64) - pl.col("date_debut").dt.month().cast(pl.Int64) + 1)
    frame = frame.with_columns(jours.alias("jours"), mois.alias("mois"), pl.lit(days_in_year, pl.Int64).alias("jours_annee"))
    billed = pl.col("situation") == "facturee"
    if prorata == "jours":
        num, den = pl.when(billed).then(pl.col("jours")).otherwise(1), pl.when(billed).then(days_in_year).otherwise(1)
    elif prorata == "mois":
        num, den = pl.when(billed).then(pl.col("mois")).otherwise(1), pl.when(billed).then(12).otherwise(1)
    else:
        num, den = pl.lit(1), pl.lit(1)
    return frame.with_columns(num.cast(pl.Int64).alias("facteur_num"), den.cast(pl.Int64).alias("facteur_den"))


def price_year(billing_base: pl.DataFrame, tariff: Tariff, *, annee: int) -> Priced:
    """Every member's contribution for ``annee`` with the lines that explain it."""
    base = billing_base.with_columns(
        pl.col("ecoles").fill_null(0).cast(pl.Int64), pl.col("eleves").fill_null(0).cast(pl.Int64),
        (pl.col("population").fill_null(0).cast(pl.Int64) if "population" in billing_base.columns
         else pl.lit(0, pl.Int64).alias("population")),
    )
    for column in ("date_effet", "date_retrait"):
        if column not in base.columns:
            base = base.with_columns(pl.lit(None, pl.Date).alias(column))
    frame = membership_frame(base, annee, tariff.prorata).sort("code_insee")
    if tariff.mode == "repartition":
        contributions, lines = _price_repartition(frame, tariff)
    else:
        contributions, lines = _price_bareme(frame, tariff)
    keep = ["code_insee", "commune", "statut", "situation", "ecoles", "eleves", "population", "date_debut", "date_fin",
            "jours", "jours_annee", "mois", "facteur_num", "facteur_den", "montant_annuel_cents", "montant_cents",
            "montant_indicatif_cents"]
    keep += [c for c in PASSTHROUGH if c in contributions.columns]
    return Priced(annee, tariff, contributions.select(keep).sort("code_insee"),
                  lines.sort("code_insee", "ordre"))


# ----- barème ---------------------------------------------------------------------------


def _line(frame: pl.DataFrame, *, rank: int, code: str | pl.Expr, libelle: str | pl.Expr, quantite: pl.Expr | None,
          taux: int | None, montant: pl.Expr, formule: str, detail: str | pl.Expr) -> pl.DataFrame:
    as_expr = lambda v, dtype=pl.Utf8: v if isinstance(v, pl.Expr) else pl.lit(v, dtype)  # noqa: E731
    return frame.select(
        pl.col("code_insee"),
        pl.lit(rank, pl.Int64).alias("rang"),
        as_expr(code).alias("code"),
        as_expr(libelle).alias("libelle"),
        (quantite if quantite is not None else pl.lit(None, pl.Int64)).cast(pl.Int64).alias("quantite"),
        pl.lit(taux, pl.Int64).alias("taux_units"),
        montant.cast(pl.Int64).alias("montant_cents"),
        pl.lit(formule).alias("formule"),
        as_expr(detail).alias("detail"),
    )


def _product(quantity: pl.Expr, units: int) -> pl.Expr:
    return _half_up(quantity * units, 100)


def _price_bareme(frame: pl.DataFrame, tariff: Tariff) -> tuple[pl.DataFrame, pl.DataFrame]:
    priced = frame.filter(pl.col("situation") != "hors_periode")
    rentree = f"rentrée {tariff.rentree}"
    parts: list[pl.DataFrame] = []
    if tariff.part_fixe_cents > 0:
        parts.append(_line(priced, rank=1, code="part_fixe", libelle="Part fixe par commune membre", quantite=None,
                           taux=None, montant=pl.lit(tariff.part_fixe_cents), formule="valeur",
                           detail="forfait annuel"))
    if tariff.part_ecole_units > 0:
        parts.append(_line(priced, rank=2, code="part_ecole", libelle="Part par école publique",
                           quantite=pl.col("ecoles"), taux=tariff.part_ecole_units,
                           montant=_product(pl.col("ecoles"), tariff.part_ecole_units), formule="produit",
                           detail=pl.format(f"{rentree} : {{}} école(s) publique(s) avec élèves", pl.col("ecoles"))))
    if tariff.tranches:
        parts.extend(_band_lines(priced, tariff, rentree))
    elif (tariff.part_eleve_units or 0) > 0:
        parts.append(_line(priced, rank=3, code="part_eleve", libelle="Part par élève",
                           quantite=pl.col("eleves"), taux=tariff.part_eleve_units,
                           montant=_product(pl.col("eleves"), tariff.part_eleve_units), formule="produit",
                           detail=pl.format(f"{rentree} : {{}} élève(s) des écoles publiques", pl.col("eleves"))))
    lines = pl.concat(parts) if parts else pl.DataFrame(schema={**LINE_SCHEMA, "rang": pl.Int64})
    subtotal = lines.group_by("code_insee").agg(pl.col("montant_cents").sum().alias("sous_total"))
    priced = priced.join(subtotal, on="code_insee", how="left").with_columns(pl.col("sous_total").fill_null(0))
    annual = pl.col("sous_total")
    extra: list[pl.DataFrame] = []
    if tariff.plancher_cents is not None:
        low = priced.filter(pl.col("sous_total") < tariff.plancher_cents)
        extra.append(_line(low, rank=10, code="plancher",
                           libelle=f"Ajustement au plancher de {format_euros(tariff.plancher_cents)}", quantite=None,
                           taux=None, montant=pl.lit(tariff.plancher_cents) - pl.col("sous_total"),
                           formule="ajustement",
                           detail=pl.format("contribution calculée {} portée au plancher",
                                            _euros_expr(pl.col("sous_total")))))
        annual = pl.max_horizontal(annual, pl.lit(tariff.plancher_cents))
    if tariff.plafond_cents is not None:
        high = priced.filter(pl.col("sous_total") > tariff.plafond_cents)
        extra.append(_line(high, rank=11, code="plafond",
                           libelle=f"Écrêtement au plafond de {format_euros(tariff.plafond_cents)}", quantite=None,
                           taux=None, montant=pl.lit(tariff.plafond_cents) - pl.col("sous_total"),
                           formule="ajustement",
                           detail=pl.format("contribution calculée {} ramenée au plafond",
                                            _euros_expr(pl.col("sous_total")))))
        annual = pl.min_horizontal(annual, pl.lit(tariff.plafond_cents))
    priced = priced.with_columns(annual.cast(pl.Int64).alias("montant_annuel_cents"))
    prorated = _half_up(pl.col("montant_annuel_cents") * pl.col("facteur_num"), pl.col("facteur_den"))
    priced = priced.with_columns(prorated.cast(pl.Int64).alias("montant_du"))
    needs_prorata = priced.filter(pl.col("facteur_num") != pl.col("facteur_den"))
    if needs_prorata.height:
        extra.append(_line(needs_prorata, rank=20, code="prorata", libelle=_prorata_label(tariff.prorata),
                           quantite=None, taux=None, montant=pl.col("montant_du") - pl.col("montant_annuel_cents"),
                           formule="prorata", detail=_prorata_detail(tariff.prorata)))
    all_lines = pl.concat([lines, *extra]) if extra else lines
    all_lines = _number_lines(all_lines)
    contributions = frame.join(
        priced.select("code_insee", "montant_annuel_cents", "montant_du"), on="code_insee", how="left"
    ).with_columns(
        pl.col("montant_annuel_cents").fill_null(0),
        pl.when(pl.col("situation") == "facturee").then(pl.col("montant_du")).otherwise(0).cast(pl.Int64)
        .alias("montant_cents"),
        pl.when(pl.col("situation") == "indicative").then(pl.col("montant_du")).cast(pl.Int64)
        .alias("montant_indicatif_cents"),
    ).drop("montant_du")
    return contributions, all_lines


def _band_lines(priced: pl.DataFrame, tariff: Tariff, rentree: str) -> list[pl.DataFrame]:
    pupils = pl.col("eleves")
    lines = []
    if tariff.tranches_mode == "global":
        bounds = [0] + [band.jusqu_a for band in tariff.tranches[:-1]]
        rate = code = label = None
        for index in range(len(tariff.tranches), 0, -1):  # highest band first: the band reached wins
            band, lower = tariff.tranches[index - 1], bounds[index - 1]
            text = f"Part par élève au tarif de la tranche {index} atteinte ({_band_text(index, lower, band.jusqu_a)})"
            cond = pupils > lower
            if rate is None:
                rate = pl.when(cond).then(pl.lit(band.rate_units, pl.Int64))
                code = pl.when(cond).then(pl.lit(f"tranche_{index}"))
                label = pl.when(cond).then(pl.lit(text))
            elif index > 1:
                rate = rate.when(cond).then(pl.lit(band.rate_units, pl.Int64))
                code = code.when(cond).then(pl.lit(f"tranche_{index}"))
                label = label.when(cond).then(pl.lit(text))
            else:
                rate = rate.otherwise(pl.lit(band.rate_units, pl.Int64))
                code = code.otherwise(pl.lit("tranche_1"))
                label = label.otherwise(pl.lit(text))
        if len(tariff.tranches) == 1:  # a single band: no condition to chain
            band = tariff.tranches[0]
            rate, code = pl.lit(band.rate_units, pl.Int64), pl.lit("tranche_1")
            label = pl.lit(f"Part par élève au tarif de la tranche 1 atteinte ({_band_text(1, 0, None)})")
        frame = priced.with_columns(rate.alias("_taux"), code.alias("_code"), label.alias("_libelle"))
        line = frame.select(
            pl.col("code_insee"), pl.lit(3, pl.Int64).alias("rang"), pl.col("_code").alias("code"),
            pl.col("_libelle").alias("libelle"), pupils.cast(pl.Int64).alias("quantite"),
            pl.col("_taux").cast(pl.Int64).alias("taux_units"),
            _half_up(pupils * pl.col("_taux"), 100).cast(pl.Int64).alias("montant_cents"),
            pl.lit("produit").alias("formule"),
            pl.format(f"{rentree} : {{}} élève(s), tous au tarif de la tranche atteinte", pupils).alias("detail"),
        )
        return [line]
    lower = 0
    for index, band in enumerate(tariff.tranches, start=1):
        upper = band.jusqu_a
        in_band = (pupils - lower).clip(lower_bound=0)
        if upper is not None:
            in_band = pl.min_horizontal(in_band, pl.lit(upper - lower))
        used = priced.filter((in_band > 0) | pl.lit(index == 1))
        lines.append(_line(used, rank=3, code=f"tranche_{index}",
                           libelle=f"Élèves {_band_text(index, lower, upper)} (tranche {index})",
                           quantite=in_band, taux=band.rate_units, montant=_product(in_band, band.rate_units),
                           formule="produit",
                           detail=pl.format(f"{rentree} : {{}} élève(s) au total", pupils)))
        lower = upper or lower
    return lines


def _band_text(index: int, lower: int, upper: int | None) -> str:
    if upper is None:
        return f"au-delà de {_fmt_int(lower)}"
    return f"de {_fmt_int(lower + 1)} à {_fmt_int(upper)}"


def _euros_expr(cents: pl.Expr) -> pl.Expr:
    whole = (cents // 100).cast(pl.Utf8)
    part = (cents % 100).cast(pl.Utf8).str.zfill(2)
    return pl.format("{},{} €", whole, part)


def _prorata_label(mode: str) -> str:
    return "Prorata temporis (mois d'adhésion)" if mode == "mois" else "Prorata temporis (jours d'adhésion)"


def _prorata_detail(mode: str) -> pl.Expr:
    if mode == "mois":
        return pl.format("{} mois sur 12 (du {} au {})", pl.col("mois"), pl.col("date_debut").dt.strftime("%d/%m/%Y"),
                         pl.col("date_fin").dt.strftime("%d/%m/%Y"))
    return pl.format("{} jours sur {} (du {} au {})", pl.col("jours"), pl.col("jours_annee"),
                     pl.col("date_debut").dt.strftime("%d/%m/%Y"), pl.col("date_fin").dt.strftime("%d/%m/%Y"))


def _number_lines(lines: pl.DataFrame) -> pl.DataFrame:
    lines = lines.with_columns(pl.int_range(pl.len()).alias("_pos"))
    lines = lines.sort("code_insee", "rang", "_pos")
    lines = lines.with_columns((pl.col("code_insee").cum_count().over("code_insee")).cast(pl.Int64).alias("ordre"))
    return lines.select(list(LINE_SCHEMA))


# ----- répartition ---------------------------------------------------------------------


def _criterion(row: dict, criterion: str) -> int:
    return 1 if criterion == "forfait" else int(row.get(criterion) or 0)


def _price_repartition(frame: pl.DataFrame, tariff: Tariff) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Weighted shares of montant_total, apportioned to the cent by the largest remainders."""
    total = tariff.montant_total_cents or 0
    weights = [(k, w) for k, w in tariff.poids if w > 0]
    rows = frame.to_dicts()
    billed = [r for r in rows if r["situation"] == "facturee"]
    sums = {k: sum(_criterion(r, k) for r in billed) for k, _ in weights}
    for criterion, weight in weights:
        if billed and sums[criterion] == 0:
            raise PricingError(f"répartition impossible : le critère « {criterion} » vaut 0 pour toutes les communes "
                               f"facturées (poids {float(weight):g}) ; changez les poids du tarif")

    def share(row: dict, extra: dict | None = None) -> Fraction:
        result = Fraction(0)
        for criterion, weight in weights:
            denominator = sums[criterion] + (_criterion(extra, criterion) if extra else 0)
            if denominator:
                result += weight * Fraction(_criterion(row, criterion), denominator)
        return result

    exact: dict[str, Fraction] = {}
    shares: dict[str, Fraction] = {}
    for row in billed:
        shares[row["code_insee"]] = share(row)
        exact[row["code_insee"]] = total * shares[row["code_insee"]] * Fraction(row["facteur_num"], row["facteur_den"])
    parts = apportion(exact)
    annual: dict[str, int] = {code: div_half_up((total * s).numerator, (total * s).denominator)
                              for code, s in shares.items()}
    line_rows = []
    indicative: dict[str, int] = {}
    for row in rows:
        code = row["code_insee"]
        if row["situation"] == "facturee":
            amount, s = parts[code], shares[code]
        elif row["situation"] == "indicative":
            s = share(row, extra=row)
            value = total * s
            amount = div_half_up(value.numerator, value.denominator)
            indicative[code] = amount
        else:
            continue
        detail = "; ".join(
            f"{criterion} {_fmt_int(_criterion(row, criterion))}/{_fmt_int(sums[criterion] + (_criterion(row, criterion) if row['situation'] == 'indicative' else 0))} × {f'{float(weight) * 100:g}'.replace('.', ',')} %"
            for criterion, weight in weights
        )
        detail = f"quote-part {f'{float(s) * 100:.4f}'.replace('.', ',')} % de {format_euros(total)} ({detail})"
        if row["situation"] == "facturee" and row["facteur_num"] != row["facteur_den"]:
            unit = "jours" if tariff.prorata == "jours" else "mois"
            detail += f", prorata {row['facteur_num']}/{row['facteur_den']} {unit}"
        line_rows.append({"code_insee": code, "ordre": 1, "code": "repartition",
                          "libelle": "Quote-part de la répartition du coût du service", "quantite": None,
                          "taux_units": None, "montant_cents": amount, "formule": "valeur", "detail": detail})
    lines = pl.DataFrame(line_rows, schema=LINE_SCHEMA)
    contributions = frame.with_columns(
        pl.col("code_insee").replace_strict(annual, default=None, return_dtype=pl.Int64)
        .fill_null(pl.col("code_insee").replace_strict(indicative, default=0, return_dtype=pl.Int64))
        .alias("montant_annuel_cents"),
        pl.col("code_insee").replace_strict(parts, default=0, return_dtype=pl.Int64).alias("montant_cents"),
        pl.col("code_insee").replace_strict(indicative, default=None, return_dtype=pl.Int64)
        .alias("montant_indicatif_cents"),
    )
    return contributions, lines


def apportion(exact: dict[str, Fraction]) -> dict[str, int]:
    """Largest-remainder apportionment in cents: floors, then the missing cents to the largest
    remainders (ties by code_insee), so the parts add up to the rounded sum of the exact parts."""
    if not exact:
        return {}
    floors = {code: value.numerator // value.denominator for code, value in exact.items()}
    total = sum(exact.values(), Fraction(0))
    target = div_half_up(total.numerator, total.denominator)
    missing = target - sum(floors.values())
    order = sorted(exact, key=lambda code: (-(exact[code] - floors[code]), code))
    parts = dict(floors)
    for code in order[:missing]:
        parts[code] += 1
    return parts


# ----- explanation ------------------------------------------------------------------------


def explain_commune(priced: Priced, code_insee: str) -> list[str]:
    """The calculation read aloud to the mayor: facts, each line, the total."""
    row = priced.contributions.filter(pl.col("code_insee") == code_insee)
    if row.height == 0:
        raise KeyError(code_insee)
    c = row.row(0, named=True)
    tariff = priced.tariff
    out = [f"{c['commune']} ({c['code_insee']}) — contribution {priced.annee}",
           f"Tarif : délibération {tariff.deliberation} ; effectifs de la rentrée {tariff.rentree} "
           f"(année scolaire {tariff.rentree}-{tariff.rentree + 1}).",
           f"Effectifs retenus : {c['ecoles']} école(s) publique(s) avec élèves, {_fmt_int(c['eleves'])} élève(s)."]
    situation = c["situation"]
    if situation == "hors_periode":
        out.append(f"La commune n'a été membre aucun jour de {priced.annee} : rien n'est dû.")
        return out
    if situation == "indicative":
        out.append("Adhésion conditionnelle (délibération de la commune attendue) : montant indicatif, non facturé.")
    else:
        out.append(f"Adhésion du {_fmt_date(c['date_debut'])} au {_fmt_date(c['date_fin'])} : "
                   f"{c['jours']} jours sur {c['jours_annee']}, {c['mois']} mois sur 12.")
    out.append("Calcul :")
    for line in priced.lines.filter(pl.col("code_insee") == code_insee).iter_rows(named=True):
        if line["formule"] == "produit":
            calc = f"{_fmt_int(line['quantite'])} × {format_rate(line['taux_units'])} = {format_euros(line['montant_cents'])}"
        else:
            calc = format_euros(line["montant_cents"])
        out.append(f"  {line['ordre']}. {line['libelle']} : {calc}")
        if line["detail"]:
            out.append(f"     ({line['detail']})")
    total = c["montant_cents"] if situation == "facturee" else c["montant_indicatif_cents"]
    label = "Montant dû" if situation == "facturee" else "Montant indicatif"
    out.append(f"{label} : {format_euros(total)}")
    return out
