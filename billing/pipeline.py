"""The one-way flow of a billing year: read -> validate -> resolve -> price -> render.

Each function here orchestrates; the work is done by the stage modules. Any error
stops the run before anything is written (``InputError`` carries every problem).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import polars as pl

from billing import problems as P
from billing.model import InputHash, Syndicat, Tariff
from billing.problems import InputError, Problem

INPUT_STEMS = ("syndicat", "tarifs", "adhesions", "effectifs", "annuaire", "budget", "paiements")


@dataclass(frozen=True)
class YearData:
    """A year's inputs, read, validated and resolved: what pricing and the renderers need."""

    annee: int
    inputs_dir: Path
    syndicat: Syndicat
    tariff: Tariff
    billing_base: pl.DataFrame
    warnings: tuple[Problem, ...]
    input_hashes: tuple[InputHash, ...]
    budget: pl.DataFrame | None = None
    extra: dict = field(default_factory=dict)


def display_path(path: Path, inputs_dir: Path) -> str:
    """The path as the officer named it: « inputs/adhesions.csv »."""
    return f"{inputs_dir.name}/{path.name}" if inputs_dir.name else path.name


def load_year(inputs_dir: Path, annee: int, *, tariff_override: Tariff | None = None) -> YearData:
    """Read, validate and resolve every input of ``annee``; raise InputError with all problems on any error."""
    from billing import config, readers
    from billing.counts import attribute_counts
    from billing.register import load_register
    from billing.validate import ADHESIONS_COLUMNS, ADHESIONS_TYPES, resolve_members, schema_problems, statut_expr
    from schemas.inputs import Adhesions

    problems: list[Problem] = []
    inputs_dir = Path(inputs_dir)
    if not inputs_dir.is_dir():
        raise InputError([P.error(str(inputs_dir), None, None,
                                  "dossier des données introuvable",
                                  suggestion="Indiquez-le avec --inputs DOSSIER, ou créez un exemple avec « ent-bill init ».")])

    files: dict[str, Path] = {}
    for stem in INPUT_STEMS:
        if stem in ("syndicat", "tarifs"):
            path = inputs_dir / f"{stem}.toml"
            if path.is_file():
                files[stem] = path
            continue
        path, found = readers.find_input(inputs_dir, stem)
        problems += found
        if path is not None:
            files[stem] = path
    for required, hint in (("syndicat", "syndicat.toml"), ("tarifs", "tarifs.toml"),
                           ("adhesions", "adhesions.csv ou adhesions.xlsx"),
                           ("effectifs", "effectifs.csv ou effectifs.xlsx")):
        if required not in files:
            problems.append(P.error(f"{inputs_dir.name}/{hint.split(' ')[0]}", None, None,
                                    f"fichier obligatoire absent ({hint})",
                                    suggestion="« ent-bill init » crée un dossier d'exemple complet."))
    hashes = tuple(
        InputHash(path.name, readers.sha256_file(path), path.stat().st_size) for _, path in sorted(files.items())
    )
    if P.errors_of(problems):
        raise InputError(problems)

    def show(stem: str) -> str:
        return display_path(files[stem], inputs_dir)

    syndicat, found = config.read_syndicat(files["syndicat"], display=show("syndicat"))
    problems += found
    tariffs, found = config.read_tariffs(files["tarifs"], display=show("tarifs"))
    problems += found
    tariff = tariff_override
    if tariff is None and tariffs is not None:
        tariff, found = config.tariff_for_year(tariffs, annee, display=show("tarifs"))
        problems += found

    register = load_register()

    table = readers.read_table(files["adhesions"], display=show("adhesions"), columns=ADHESIONS_COLUMNS,
                               required=("statut",))
    problems += table.problems
    members = None
    if not any(p.is_error and p.row is None for p in table.problems):
        if "code_insee" not in table.frame.columns and "commune" not in table.frame.columns:
            problems.append(P.error(table.display, None, None,
                                    "il faut une colonne « code_insee » ou « commune »",
                                    suggestion=f"Colonnes trouvées : {', '.join(table.headers.values())}."))
        elif table.frame.height == 0:
            problems.append(P.error(table.display, None, None, "aucune commune membre dans le fichier"))
        else:
            frame = table.frame
            for column in ADHESIONS_COLUMNS:
                if column not in frame.columns:
                    frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(column))
            table = replace(table, frame=frame)
            typed, found = readers.coerce(table, ADHESIONS_TYPES)
            problems += found
            typed = typed.with_columns(statut_expr("statut"))
            problems += schema_problems(Adhesions, typed, table)
            resolved = resolve_members(typed, table, register)
            problems += resolved.problems
            members = resolved.members

    annuaire = None
    if "annuaire" in files:
        annuaire_table = readers.read_annuaire(files["annuaire"], display=show("annuaire"))
        problems += annuaire_table.problems
        if "uai" in annuaire_table.frame.columns and "code_insee" in annuaire_table.frame.columns:
            annuaire = annuaire_table.frame.select("uai", "code_insee", *(
                c for c in ("siret",) if c in annuaire_table.frame.columns)).filter(pl.col("uai").is_not_null())
            annuaire = annuaire.with_columns(pl.col("uai").str.to_uppercase())

    pupil_counts = readers.read_pupil_counts(files["effectifs"], display=show("effectifs"))
    counted = None
    if not any(p.is_error and p.row is None for p in (*pupil_counts.problems, *pupil_counts.table.problems)):
        counted = attribute_counts(pupil_counts, register, annuaire=annuaire)
        problems += counted.problems
    else:
        problems += list(pupil_counts.problems) + list(pupil_counts.table.problems)

    budget = None
    if "budget" in files:
        budget, found = read_budget(files["budget"], display=show("budget"))
        problems += found

    billing_base = None
    if members is not None and counted is not None and tariff is not None:
        billing_base, found = build_billing_base(members, counted, register, tariff=tariff, annee=annee,
                                                 annuaire=annuaire)
        problems += found

    if P.errors_of(problems) or syndicat is None or tariff is None or billing_base is None:
        if not P.errors_of(problems):
            problems.append(P.error(str(inputs_dir), None, None, "données incomplètes : le calcul est impossible"))
        raise InputError(problems)
    return YearData(annee, inputs_dir, syndicat, tariff, billing_base, tuple(P.sort_problems(problems)), hashes,
                    budget)


def billable_mask(annee: int) -> pl.Expr:
    """adherente/retiree members with at least one day of membership in ``annee`` (DESIGN §4)."""
    first, last = date(annee, 1, 1), date(annee, 12, 31)
    return (
        pl.col("statut").is_in(["adherente", "retiree"])
        & pl.col("date_effet").is_not_null()
        & (pl.col("date_effet") <= last)
        & (pl.col("date_retrait").is_null() | (pl.col("date_retrait") > first))
    )


def build_billing_base(members: pl.DataFrame, counted, register, *, tariff: Tariff, annee: int,
                       annuaire: pl.DataFrame | None = None) -> tuple[pl.DataFrame, list[Problem]]:
    """members ⋈ counts of the tariff's rentrée ⋈ register (columns: see billing.model)."""
    from billing.counts import count_members

    valid = members.filter(pl.col("code_insee").is_not_null())
    billable = set(valid.filter(billable_mask(annee))["code_insee"].to_list())
    counts, problems = count_members(counted, valid, register, rentree=tariff.rentree, billable_codes=billable)
    facts = register.facts_frame(valid["code_insee"].to_list())
    base = (
        valid.select("code_insee", "statut", "date_effet", "date_retrait", "siret", "groupe",
                     "deliberation_commune", "deliberation_syndicat", "delegue", "_row")
        .rename({"_row": "source_row"})
        .join(facts, on="code_insee", how="left")
        .join(counts, on="code_insee", how="left")
        .with_columns(pl.col("ecoles").fill_null(0).cast(pl.Int64), pl.col("eleves").fill_null(0).cast(pl.Int64))
    )
    if annuaire is not None and "siret" in annuaire.columns:
        base = _siret_from_annuaire(base, counted.schools, annuaire)
    return base.sort("code_insee"), problems


def _siret_from_annuaire(base: pl.DataFrame, schools: pl.DataFrame, annuaire: pl.DataFrame) -> pl.DataFrame:
    """A public school's SIREN_SIRET is its commune's: fill a member's missing SIRET from it."""
    public = schools.filter(pl.col("secteur") == "public").select("uai", "code_insee")
    sirets = (
        public.join(annuaire.select("uai", pl.col("siret").alias("siret_annuaire")), on="uai", how="inner")
        .filter(pl.col("siret_annuaire").str.contains(r"^\d{14}$"))
        .group_by("code_insee").agg(pl.col("siret_annuaire").mode().first())
    )
    return (
        base.join(sirets, on="code_insee", how="left")
        .with_columns(pl.coalesce("siret", "siret_annuaire").alias("siret"))
        .drop("siret_annuaire")
    )


def read_budget(path: Path, *, display: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    from billing import readers
    from billing.money import MoneyError, decimal_to_cents
    from billing.validate import schema_problems
    from schemas.inputs import Budget

    table = readers.read_table(path, display=display, columns={
        "annee": ("annee", "exercice", "annee_budgetaire"),
        "compte": ("compte", "article", "imputation", "compte_m57"),
        "libelle": ("libelle", "intitule"),
        "montant_prevu": ("montant_prevu", "montant", "prevu", "credits_ouverts", "bp"),
    }, required=("annee", "compte", "montant_prevu"))
    problems = list(table.problems)
    if P.errors_of(problems):
        return None, problems
    typed, found = readers.coerce(table, {"annee": "int", "compte": "text", "montant_prevu": "decimal"})
    problems += found
    cents = []
    header = table.headers.get("montant_prevu", "montant_prevu")
    for row, value in typed.select("_row", "montant_prevu").iter_rows():
        if value is None:
            cents.append(None)
            continue
        try:
            from decimal import Decimal

            cents.append(decimal_to_cents(Decimal(value)))
        except MoneyError as exc:
            problems.append(P.error(display, row, header, str(exc), value=value))
            cents.append(None)
    typed = typed.with_columns(pl.Series("montant_prevu_cents", cents, dtype=pl.Int64))
    problems += schema_problems(Budget, typed, table, column_names={"montant_prevu_cents": header})
    return typed, problems


@dataclass(frozen=True)
class ComputeResult:
    """What `compute` produced: the priced year and where its files are."""

    data: YearData
    priced: object  # billing.pricing.Priced
    out_dir: Path
    outputs: dict
    notices: tuple[Path, ...]

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return self.data.warnings

    def totals(self) -> dict:
        c = self.priced.contributions
        billed = c.filter(pl.col("situation") == "facturee")
        indicative = c.filter(pl.col("situation") == "indicative")
        return {
            "communes": c.height,
            "facturees": billed.height,
            "indicatives": indicative.height,
            "hors_periode": c.filter(pl.col("situation") == "hors_periode").height,
            "montant_cents": int(billed["montant_cents"].sum() or 0),
            "montant_indicatif_cents": int(indicative["montant_indicatif_cents"].sum() or 0),
            "ecoles": int(billed["ecoles"].sum() or 0),
            "eleves": int(billed["eleves"].sum() or 0),
        }

    def summary_lines(self) -> list[str]:
        from billing.money import format_euros

        t = self.totals()
        lines = [
            f"Contributions {self.data.annee} — tarif « {self.data.tariff.deliberation} », rentrée {self.data.tariff.rentree}",
            f"  Communes facturées      : {t['facturees']:>6}   {format_euros(t['montant_cents']):>18}",
            f"  Conditionnelles (info)  : {t['indicatives']:>6}   {format_euros(t['montant_indicatif_cents']):>18}",
        ]
        if t["hors_periode"]:
            lines.append(f"  Hors période            : {t['hors_periode']:>6}")
        lines.append(f"  Écoles / élèves facturés: {t['ecoles']} écoles publiques, {t['eleves']} élèves")
        lines.append(f"  Projets d'avis (PROJET) : {len(self.notices)} dans {self.out_dir / 'avis'}/")
        for label, path in self.outputs.items():
            lines.append(f"  {label:<24}: {path}")
        return lines

    def as_json(self) -> dict:
        from billing.money import cents_to_str

        t = self.totals()
        return {
            "ok": True,
            "annee": self.data.annee,
            "deliberation": self.data.tariff.deliberation,
            "communes": t["communes"],
            "facturees": t["facturees"],
            "indicatives": t["indicatives"],
            "hors_periode": t["hors_periode"],
            "total": cents_to_str(t["montant_cents"]),
            "total_indicatif": cents_to_str(t["montant_indicatif_cents"]),
            "avis": len(self.notices),
            "fichiers": {k: str(v) for k, v in self.outputs.items()},
            "avertissements": [p.as_dict() for p in self.warnings],
        }
