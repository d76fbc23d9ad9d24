"""The one-way flow of a billing year: read -> validate -> resolve -> price -> render.

Each function here orchestrates; the work is done by the stage modules. Any error
stops the run before anything is written (``InputError`` carries every problem).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
import re
from pathlib import Path

import polars as pl

from billing.core import problems as P
from billing.core.model import InputHash, Syndicat, Tariff
from billing.core.problems import InputError, Problem

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
    from billing.inputs import config
    from billing.inputs import readers
    from billing.inputs.counts import attribute_counts
    from billing.inputs.register import load_register
    from billing.inputs.members import ADHESIONS_COLUMNS, ADHESIONS_TYPES, resolve_members, schema_problems, statut_expr
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

    problems = drop_echoes(problems)
    if P.errors_of(problems) or syndicat is None or tariff is None or billing_base is None:
        if not P.errors_of(problems):
            problems.append(P.error(str(inputs_dir), None, None, "données incomplètes : le calcul est impossible"))
        raise InputError(problems)
    return YearData(annee, inputs_dir, syndicat, tariff, billing_base, tuple(P.sort_problems(problems)), hashes,
                    budget)


def drop_echoes(problems: list[Problem]) -> list[Problem]:
    """A cell that could not be read is also « missing » for the schema: report it once, as unreadable."""
    located = {(p.file, p.row) for p in problems if p.is_error and "obligatoire" not in p.message}
    return [p for p in problems
            if not (p.is_error and "obligatoire" in p.message and p.row is not None and (p.file, p.row) in located)]


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
    """members ⋈ counts of the tariff's rentrée ⋈ register (columns: see billing.core.model)."""
    from billing.inputs.counts import count_members

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
    from billing.inputs import readers
    from billing.core.money import MoneyError, decimal_to_cents
    from billing.inputs.members import schema_problems
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
    priced: object  # billing.core.pricing.Priced
    out_dir: Path
    outputs: dict
    notices: tuple[Path, ...]
    differences: tuple = ()  # (code_insee, commune, issued_cents, computed_cents) against the ledger
    ledger_note: str | None = None  # why the ledger could not be compared, if it could not

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
        from billing.core.money import format_euros

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
        if self.ledger_note:
            lines.append(f"Attention : {self.ledger_note}")
        if self.differences:
            lines.append(f"Écarts avec les titres déjà émis ({len(self.differences)}) — « ent-bill issue "
                         f"{self.data.annee} » émettra les corrections :")
            for code, commune, issued, computed in self.differences:
                delta = computed - issued
                lines.append(f"  {code} {commune:<30} émis {format_euros(issued):>14}  calculé "
                             f"{format_euros(computed):>14}  ({'+' if delta >= 0 else ''}{format_euros(delta)})")
        return lines

    def as_json(self) -> dict:
        from billing.core.money import cents_to_str

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
            "ecarts_emis": [{"code_insee": c, "commune": n, "emis": cents_to_str(i), "calcule": cents_to_str(v)}
                            for c, n, i, v in self.differences],
            "registre": self.ledger_note,
            "fichiers": {k: str(v) for k, v in self.outputs.items()},
            "avertissements": [p.as_dict() for p in self.warnings],
        }


def objet_for(annee: int) -> str:
    return (f"Contribution {annee} — compétence usages numériques / NTIC en matière de numérique éducatif (ENT)")


def fondement_for(tariff: Tariff) -> str:
    return f"Délibération du comité syndical n° {tariff.deliberation}"


def imputation_for(tariff: Tariff, syndicat: Syndicat) -> str:
    account = tariff.imputation or syndicat.imputation or "7474"
    return f"Compte {account}"


def issue_date_for(tariff: Tariff, today: date | None = None) -> date:
    return tariff.date_emission or today or date.today()


def draft_notices(data: YearData, priced, *, today: date | None = None) -> list:
    """One draft notice (PROJET) per billed commune, straight from the priced frames."""
    from datetime import timedelta

    from billing.render.notice import Notice, NoticeLine

    emission = issue_date_for(data.tariff, today)
    due = emission + timedelta(days=data.tariff.echeance_jours)
    lines_by_commune: dict[str, list] = {}
    for line in priced.lines.iter_rows(named=True):
        lines_by_commune.setdefault(line["code_insee"], []).append(line)
    notices = []
    billed = priced.contributions.filter(pl.col("situation") == "facturee")
    for row in billed.iter_rows(named=True):
        notice_lines = tuple(
            NoticeLine(libelle=l["libelle"], detail=l["detail"], quantite=l["quantite"], taux_units=l["taux_units"],
                       montant_cents=l["montant_cents"], formule=l["formule"],
                       facteur_num=row["facteur_num"] if l["formule"] == "prorata" else None,
                       facteur_den=row["facteur_den"] if l["formule"] == "prorata" else None)
            for l in lines_by_commune.get(row["code_insee"], [])
        )
        notices.append(Notice(
            numero=None, nature="titre", origine_numero=None, origine_date=None, annee=data.annee,
            date_emission=emission, date_echeance=due, objet=objet_for(data.annee),
            fondement=fondement_for(data.tariff), rentree=data.tariff.rentree,
            imputation=imputation_for(data.tariff, data.syndicat),
            debiteur_nom=row.get("debiteur") or f"Commune de {row['commune']}",
            debiteur_code_insee=row["code_insee"], debiteur_adresse=row.get("mairie_adresse") or "",
            debiteur_siret=row.get("siret"), lines=notice_lines, total_cents=row["montant_cents"],
            syndicat=data.syndicat,
        ))
    return notices


def compute(inputs_dir: Path, annee: int, *, out_dir: Path, ledger_path: Path | None = None, progress=None,
            today: date | None = None) -> ComputeResult:
    """Validate, price, then write drafts and tables; nothing is written when an error stands."""
    from datetime import datetime

    from billing import __version__
    from billing.core.pricing import PricingError, price_year
    from billing.render.contributions import write_contributions_csv, write_contributions_workbook, write_manifest
    from billing.render.notice import notice_filename, write_notices

    # [issue 13] refuse a bad --out before anything is computed (billing/render/outdir.py)
    from billing.render.outdir import ensure_output_dir
    ensure_output_dir(out_dir, inputs_dir)
    report = progress or (lambda stage, done, total: None)
    report("Lecture et contrôle", 0, 1)
    data = load_year(inputs_dir, annee)
    report("Lecture et contrôle", 1, 1)
    try:
        priced = price_year(data.billing_base, data.tariff, annee=annee)
    except PricingError as exc:
        raise InputError([P.error(display_path(inputs_dir / "tarifs.toml", inputs_dir), None, None, str(exc))]) from None
    differences, ledger_note = differences_with_ledger(priced, ledger_path=ledger_path)  # before any file is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    avis_dir = out_dir / "avis"
    avis_dir.mkdir(exist_ok=True)
    notices = draft_notices(data, priced, today=today)
    written = write_notices(notices, avis_dir, progress=lambda done: report("Projets d'avis", done, len(notices)))
    keep = {notice_filename(n) for n in notices}
    for stale in avis_dir.glob("PROJET_*.xlsx"):
        if stale.name not in keep:  # a commune no longer billed must not keep an old draft
            stale.unlink()
    generated_at = datetime.now().replace(microsecond=0)
    outputs: dict[str, Path] = {}
    outputs["Tableau des contributions"] = write_contributions_workbook(
        out_dir / f"contributions_{annee}.xlsx", priced=priced, problems=data.warnings,
        input_hashes=data.input_hashes, syndicat=data.syndicat, version=__version__, generated_at=generated_at)
    outputs["Copie CSV"] = write_contributions_csv(out_dir / f"contributions_{annee}.csv", priced=priced)
    synthese = write_summary(data, priced, out_dir=out_dir, ledger_path=ledger_path, generated_at=generated_at)
    if synthese is not None:
        outputs["Synthèse budgétaire"] = synthese
    outputs["Manifeste"] = write_manifest(out_dir / "manifest.json", priced=priced, input_hashes=data.input_hashes,
                                          version=__version__, outputs=outputs, out_dir=out_dir)
    return ComputeResult(data, priced, out_dir, outputs, tuple(written), differences, ledger_note)


def differences_with_ledger(priced, *, ledger_path: Path | None) -> tuple[tuple, str | None]:
    """Each commune whose computed amount differs from what the ledger already titled for the year.

    Drafts do not need the ledger: when it cannot be read (an ``issue`` running, a foreign
    file), the comparison is skipped and the second value says why.
    """
    if ledger_path is None or not Path(ledger_path).exists():
        return (), None
    from billing.core.errors import UserError
    from billing.ledger.store import open_ledger

    try:
        with open_ledger(ledger_path, readonly=True) as ledger:
            issued = ledger.net_by_commune(priced.annee)
    except UserError as exc:
        return (), f"comparaison avec les titres déjà émis impossible : {exc}"
    if not issued:
        return (), None
    computed = {r["code_insee"]: (r["commune"], r["montant_cents"]) for r in priced.contributions.iter_rows(named=True)}
    out = []
    for code in sorted(set(issued) | {c for c, (_, m) in computed.items() if m}):
        name, amount = computed.get(code, (code, 0))
        if issued.get(code, 0) != amount:
            out.append((code, name, issued.get(code, 0), amount))
    return tuple(out), None


def previous_year_amounts(data: YearData, *, ledger_path: Path | None) -> tuple[pl.DataFrame | None, str | None]:
    """Last year's amount per commune: from the ledger when that year was issued, else recomputed from its inputs."""
    previous = data.annee - 1
    if ledger_path is not None and Path(ledger_path).exists():
        from billing.core.errors import UserError
        from billing.ledger.store import open_ledger

        try:
            with open_ledger(ledger_path, readonly=True) as ledger:
                titres = ledger.titres(previous)
        except UserError:  # a busy or foreign ledger: compare with last year's inputs instead
            titres = []
        if titres:
            net: dict[str, int] = {}
            names: dict[str, str] = {}
            for t in titres:
                net[t.code_insee] = net.get(t.code_insee, 0) + t.signed_cents
                names[t.code_insee] = t.commune
            frame = pl.DataFrame({"code_insee": list(net), "commune": [names[c] for c in net],
                                  "montant_cents": list(net.values())}, schema={"code_insee": pl.Utf8,
                                                                               "commune": pl.Utf8,
                                                                               "montant_cents": pl.Int64})
            return frame, "registre des titres"
    try:
        from billing.core.pricing import price_year

        last = load_year(data.inputs_dir, previous)
        priced = price_year(last.billing_base, last.tariff, annee=previous)
    except (InputError, ValueError):
        return None, None
    frame = priced.contributions.filter(pl.col("situation") == "facturee").select("code_insee", "commune",
                                                                                   "montant_cents")
    return frame, f"données {previous}"


def write_summary(data: YearData, priced, *, out_dir: Path, ledger_path: Path | None, generated_at) -> Path | None:
    from billing.render.synthese import write_synthese

    previous, source = previous_year_amounts(data, ledger_path=ledger_path)
    budget = None
    if data.budget is not None:
        budget = data.budget.select("annee", "compte", "libelle", "montant_prevu_cents") \
            if "libelle" in data.budget.columns else data.budget.with_columns(pl.lit(None, pl.Utf8).alias("libelle"))
        budget = budget.select("annee", "compte", "libelle", "montant_prevu_cents")
    return write_synthese(out_dir / f"synthese_{data.annee}.xlsx", priced=priced, previous=previous,
                          previous_source=source, budget=budget, syndicat=data.syndicat,
                          input_hashes=data.input_hashes, generated_at=generated_at)


@dataclass(frozen=True)
class Explanation:
    code_insee: str
    lines: list[str]
    contribution: dict

    def as_json(self) -> dict:
        return {"ok": True, "code_insee": self.code_insee, "explication": self.lines,
                "montant": self.contribution.get("montant"), "situation": self.contribution.get("situation")}


def explain(inputs_dir: Path, annee: int, commune: str) -> Explanation:
    """The full calculation of one member, by name or INSEE code."""
    from billing.core.errors import UserError
    from billing.core.money import cents_to_str
    from billing.core.pricing import explain_commune, price_year
    from billing.inputs.register import load_register, suggestion_text

    data = load_year(inputs_dir, annee)
    priced = price_year(data.billing_base, data.tariff, annee=annee)
    register = load_register()
    text = commune.strip()
    code = None
    if re.fullmatch(r"\d[0-9AB]\d{3}|\d{4}", text.upper()):
        res = register.resolve_code(text)
    else:
        res = register.resolve_name(text, departements=set(data.billing_base["departement"].drop_nulls().to_list()))
    if res.status == "ok" and res.commune is not None:
        code = res.commune.code_insee
    members = set(priced.contributions["code_insee"].to_list())
    if code is None or code not in members:
        hint = suggestion_text(res) if res.status != "ok" else None
        if code is not None:
            raise UserError(f"{res.commune.libelle} ({code}) n'est pas membre du syndicat dans {display_path(inputs_dir / 'adhesions.csv', inputs_dir)}")
        raise UserError(f"« {commune} » n'est pas une commune membre" + (f". {hint}" if hint else ""))
    row = priced.contributions.filter(pl.col("code_insee") == code).row(0, named=True)
    amount = row["montant_cents"] if row["situation"] == "facturee" else row["montant_indicatif_cents"]
    return Explanation(code, explain_commune(priced, code),
                       {"montant": cents_to_str(amount or 0), "situation": row["situation"]})


@dataclass(frozen=True)
class SimulationResult:
    annee: int
    current: object  # Priced
    scenarios: tuple
    solution: object | None
    path: Path

    def as_json(self) -> dict:
        from billing.inputs.config import tariff_to_dict
        from billing.core.money import cents_to_str
        from billing.core.simulate import billed_total, comparison_frame

        main = self.scenarios[0]
        comparison = comparison_frame(self.current, [main])
        payload = {
            "ok": True, "annee": self.annee, "parametres": tariff_to_dict(main.tariff),
            "total": cents_to_str(main.total_cents), "total_actuel": cents_to_str(billed_total(self.current)),
            "communes": [{"code_insee": r["code_insee"], "commune": r["commune"],
                          "montant_actuel": cents_to_str(r["montant_actuel"] or 0),
                          "montant": cents_to_str(r["montant_0"] or 0)} for r in comparison.iter_rows(named=True)],
            "fichier": str(self.path),
        }
        if len(self.scenarios) > 1:
            payload["scenarios"] = [{"nom": s.name, "parametres": tariff_to_dict(s.tariff),
                                     "total": cents_to_str(s.total_cents)} for s in self.scenarios]
        if self.solution is not None:
            payload.update({"cible": cents_to_str(self.solution.target_cents), "parametre": self.solution.parameter,
                            "valeur": self.solution.value_text,
                            "total_pas_suivant": cents_to_str(self.solution.next_total_cents or 0)})
        return payload

    def summary_lines(self, *, top: int = 10) -> list[str]:
        from billing.core.money import format_euros
        from billing.core.simulate import billed_total, comparison_frame

        lines = [f"Simulation {self.annee} (rien n'est émis) — total facturé actuel : "
                 f"{format_euros(billed_total(self.current))}"]
        for scenario in self.scenarios:
            delta = scenario.total_cents - billed_total(self.current)
            lines.append(f"  {scenario.name:<24} total {format_euros(scenario.total_cents):>18}  "
                         f"(écart {'+' if delta >= 0 else ''}{format_euros(delta)})")
        if self.solution is not None:
            s = self.solution
            lines.append(f"  Cible {format_euros(s.target_cents)} : {s.parameter} = {s.value_text} € donne "
                         f"{format_euros(s.total_cents)} ; au pas suivant ({s.next_value_text} €) : "
                         f"{format_euros(s.next_total_cents or 0)}")
        comparison = comparison_frame(self.current, [self.scenarios[0]]).with_columns(
            (pl.col("montant_0") - pl.col("montant_actuel")).alias("ecart"))
        biggest = comparison.sort(pl.col("ecart").abs(), descending=True).head(top)
        lines.append(f"  Plus grands écarts ({self.scenarios[0].name}) :")
        for r in biggest.iter_rows(named=True):
            lines.append(f"    {r['commune']:<30} {format_euros(r['montant_actuel'] or 0):>14} → "
                         f"{format_euros(r['montant_0'] or 0):>14}  ({'+' if r['ecart'] >= 0 else ''}"
                         f"{format_euros(r['ecart'] or 0)})")
        lines.append(f"  Classeur : {self.path}")
        return lines


def run_simulation(inputs_dir: Path, annee: int, *, settings: list[str], out_dir: Path,
                   scenario_file: Path | None = None, cible: str | None = None, cible_sur: str = "part_eleve",
                   today: date | None = None) -> SimulationResult:
    """Price the year again with modified tariffs; write the comparison workbook; issue nothing."""
    from datetime import datetime

    from billing.core.pricing import price_year
    from billing.inputs.register import slug
    from billing.render.simulation import write_simulation
    from billing.core.simulate import (Scenario, parse_target, read_scenarios, simulate, solve_rate, with_solution)

    data = load_year(inputs_dir, annee)
    current = price_year(data.billing_base, data.tariff, annee=annee)
    scenarios = []
    if scenario_file is not None:
        for name, variant in read_scenarios(scenario_file):
            scenarios.append(simulate(data.billing_base, data.tariff, [*settings, *variant], annee=annee, name=name))
    elif settings or cible is None:
        scenarios.append(simulate(data.billing_base, data.tariff, settings, annee=annee,
                                  name="simulation" if settings else "tarif actuel"))
    solution = None
    if cible is not None:
        base_tariff = scenarios[0].tariff if scenarios else data.tariff
        solution = solve_rate(data.billing_base, base_tariff, parse_target(cible), annee=annee, parameter=cible_sur)
        solved = with_solution(base_tariff, solution)
        scenarios.insert(0, Scenario(f"cible {solution.parameter}={solution.value_text}", solved,
                                     price_year(data.billing_base, solved, annee=annee)))
    label = "_".join(settings) if settings else (scenario_file.stem if scenario_file else f"cible_{cible}")
    path = Path(out_dir) / f"simulation_{annee}_{slug(label)}.xlsx"
    from billing.core.simulate import comparison_frame

    write_simulation(path, annee=annee, current=current, scenarios=scenarios,
                     comparison=comparison_frame(current, scenarios), solution=solution,
                     generated_at=datetime.now().replace(microsecond=0))
    return SimulationResult(annee, current, tuple(scenarios), solution, path)

