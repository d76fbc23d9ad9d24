"""Pupil counts: schools attributed to their commune, then counted per member for a rentrée.

Only public schools count; ``ecoles`` = distinct UAI with pupils > 0, ``eleves`` = their
sum (DESIGN §4). A school in a commune déléguée counts for its parent. Nothing is dropped
silently: unattributed rows and counts of non-members are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from billing.core import problems as P
from billing.core.problems import Problem
from billing.inputs.readers import PupilCounts
from billing.inputs.register import Register, departement_of_uai
from billing.inputs.schools import RENAMED, attribute_schools
from billing.inputs.members import SECTEUR_PUBLIC, describe_rows, schema_problems, secteur_expr
from billing.inputs.cells import MAX_DETAILS
from billing.inputs.readers import coerce
from schemas.inputs import CommuneCounts, SchoolCounts

SCHOOL_TYPES = {"rentree": "int", "uai": "uai", "eleves": "int", "classes": "int", "code_insee": "text",
                "code_postal": "text", "commune_nom": "text", "ecole": "text", "secteur": "text"}
COMMUNE_TYPES = {"rentree": "int", "code_insee": "code_insee", "ecoles": "int", "eleves": "int", "commune_nom": "text",
                 "classes": "int"}
MAX_LISTED = 12


@dataclass(frozen=True)
class CountedSchools:
    """Every count row typed and attributed (``code_insee`` = the COM it counts for, or null)."""

    schools: pl.DataFrame
    form: str
    display: str
    problems: tuple[Problem, ...]
    has_classes: bool = True  # the per-commune form may lack a « classes » column (then part_classe cannot apply)


def attribute_counts(pupil_counts: PupilCounts, register: Register, *, annuaire: pl.DataFrame | None = None
                     ) -> CountedSchools:
    table = pupil_counts.table
    problems: list[Problem] = list(pupil_counts.problems) + list(table.problems)
    if pupil_counts.form == "par_commune":
        frame, found = coerce(table, {k: v for k, v in COMMUNE_TYPES.items() if k in table.frame.columns})
        problems += found
        problems += _schema_problems(CommuneCounts, frame, table, found)
        frame, found = _resolve_commune_rows(frame, table, register)
        problems += found
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.Utf8).alias("uai"),
            pl.lit(SECTEUR_PUBLIC).alias("secteur"),
            pl.col("ecoles").alias("ecoles_declarees"),
        )
        return CountedSchools(frame, pupil_counts.form, table.display, tuple(problems),
                              has_classes="classes" in table.headers)

    frame, found = coerce(table, {k: v for k, v in SCHOOL_TYPES.items() if k in table.frame.columns})
    problems += found
    frame = frame.with_columns(secteur_expr("secteur"))
    problems += _schema_problems(SchoolCounts, frame, table, found)
    hint = frame.get_column("code_insee") if "code_insee" in frame.columns else None
    attributed = attribute_schools(
        register,
        frame.with_columns(
            (hint if hint is not None else pl.lit(None, dtype=pl.Utf8)).alias("code_insee")
        ),
        annuaire=annuaire,
    )
    attributed = attributed.with_columns(pl.col("code_insee_resolu").alias("code_insee")).drop("code_insee_resolu")
    problems += _duplicate_schools(attributed, table)
    problems += _renamed_warnings(attributed, table, register)
    return CountedSchools(attributed, pupil_counts.form, table.display, tuple(problems))


def _schema_problems(model, frame: pl.DataFrame, table, typing: list[Problem]) -> list[Problem]:
    """The schema's problems, less those about a cell the typing step already refused (« obligatoire » after
    « n'est pas un nombre » says nothing new). When the typing refused more cells than are detailed, the
    rows holding them are not checked again at all: 300 000 refused rows would cost pandera 150 MB."""
    refused = {(p.row, p.column) for p in typing if p.is_error and p.row is not None}
    typed = [c for c in frame.columns if c != "_row" and c in table.frame.columns and frame[c].dtype != pl.Utf8]
    checked = frame
    if typed:  # a cell the typing refused is null where the text was not
        lost = pl.any_horizontal([table.frame[c].is_not_null() & frame[c].is_null() for c in typed])
        if frame.select(lost.sum()).item() > MAX_DETAILS:
            checked = frame.filter(~lost)
    return [p for p in schema_problems(model, checked, table) if (p.row, p.column) not in refused]


def _resolve_commune_rows(frame: pl.DataFrame, table, register: Register) -> tuple[pl.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    codes = []
    header = table.headers.get("code_insee") or table.headers.get("commune_nom") or "code_insee"
    for rec in frame.select("_row", *(c for c in ("code_insee", "commune_nom") if c in frame.columns)).to_dicts():
        code = rec.get("code_insee")
        name = rec.get("commune_nom")
        res = register.resolve_code(code) if code else (register.resolve_name(name) if name else None)
        if res is not None and res.status == "ok" and res.commune is not None:
            codes.append(res.commune.code_insee)
            continue
        codes.append(None)
        if res is None:
            problems.append(P.error(table.display, rec["_row"], header, "il faut le code_insee de la commune"))
        else:
            from billing.inputs.register import suggestion_text

            problems.append(P.error(table.display, rec["_row"], header, "n'est pas une commune du référentiel.",
                                    value=code or name, suggestion=suggestion_text(res)))
    return frame.with_columns(pl.Series("code_insee", codes, dtype=pl.Utf8)), problems


def _renamed_warnings(schools: pl.DataFrame, table, register: Register) -> list[Problem]:
    """A school attributed by the renamed-commune rule is said so: the name in the file is not the official one."""
    rows = schools.filter(pl.col("attribution") == RENAMED)
    header = table.headers.get("commune_nom", "commune_nom")
    problems = []
    for rec in rows.select("_row", "commune_nom", "code_postal", "code_insee").iter_rows(named=True):
        commune = register.commune(rec["code_insee"])
        official = f"{commune.libelle} ({commune.code_insee})" if commune else rec["code_insee"]
        problems.append(P.warning(
            table.display, rec["_row"], header,
            f"« {rec['commune_nom']} » n'est plus le nom d'une commune : école rattachée à {official}, la seule "
            f"commune du code postal {rec['code_postal'] or ''} dont le nom officiel contient ce nom (règle « commune "
            f"renommée »)",
            value=rec["commune_nom"],
            suggestion="Vérifiez ce rattachement, ou ajoutez un fichier annuaire.csv (UAI → code commune)."))
    return problems


def _duplicate_schools(schools: pl.DataFrame, table) -> list[Problem]:
    """The same UAI twice in one rentrée would be counted twice: refuse it."""
    if "uai" not in schools.columns:
        return []
    dup = (
        schools.filter(pl.col("uai").is_not_null() & pl.col("rentree").is_not_null())
        .group_by("rentree", "uai")
        .agg(pl.col("_row").sort().alias("rows"))
        .filter(pl.col("rows").list.len() > 1)
        .sort("rentree", "uai")
    )
    header = table.headers.get("uai", "uai")
    return [
        P.error(table.display, rows[1], header,
                f"l'école {uai} figure plusieurs fois pour la rentrée {rentree} (lignes {describe_rows(rows)})",
                value=uai, suggestion="Gardez une seule ligne par école et par rentrée.")
        for rentree, uai, rows in dup.iter_rows()
    ]


def count_members(counted: CountedSchools, members: pl.DataFrame, register: Register, *, rentree: int,
                  billable_codes: set[str]) -> tuple[pl.DataFrame, list[Problem]]:
    """Schools and pupils per member commune for ``rentree`` (columns code_insee, ecoles, eleves)."""
    problems: list[Problem] = []
    schools = counted.schools
    display = counted.display
    rentrees = sorted(set(schools["rentree"].drop_nulls().to_list()))
    year_rows = schools.filter(pl.col("rentree") == rentree)
    if year_rows.height == 0:
        present = ", ".join(str(r) for r in rentrees) or "aucune"
        problems.append(P.error(display, None, None,
                                f"aucun effectif pour la rentrée {rentree} demandée par le tarif "
                                f"(rentrées présentes : {present})",
                                suggestion="Téléchargez l'export le plus récent ou corrigez « rentree » dans tarifs.toml."))
        return _empty_counts(), problems

    member_codes = set(members["code_insee"].drop_nulls().to_list())
    unattributed = year_rows.filter(pl.col("code_insee").is_null())
    if unattributed.height:
        problems += _unattributed_problems(unattributed, display, member_codes, register)

    per_commune = _per_commune(year_rows, counted.form)
    present_codes = set(per_commune["code_insee"].to_list())
    for code in sorted(billable_codes - present_codes):
        commune = register.commune(code)
        problems.append(P.error(display, None, None,
                                f"{commune.libelle if commune else code} ({code}), commune facturable, n'a aucune "
                                f"ligne d'effectifs pour la rentrée {rentree} : les données manquent",
                                suggestion="Ajoutez ses écoles publiques (ou une ligne à 0 élève si elle n'en a pas)."))
    for rec in per_commune.filter(pl.col("code_insee").is_in(list(member_codes)) & (pl.col("eleves") == 0)).iter_rows(named=True):
        commune = register.commune(rec["code_insee"])
        problems.append(P.warning(display, None, None,
                                  f"{commune.libelle if commune else rec['code_insee']} ({rec['code_insee']}) n'a "
                                  f"aucun élève d'école publique à la rentrée {rentree} : 0 école, 0 élève retenus"))
    outsiders = sorted(present_codes - member_codes)
    if outsiders:
        names = []
        for code in outsiders[:MAX_LISTED]:
            commune = register.commune(code)
            names.append(f"{commune.libelle if commune else code} ({code})")
        more = f" et {len(outsiders) - MAX_LISTED} autres" if len(outsiders) > MAX_LISTED else ""
        problems.append(P.warning(display, None, None,
                                  f"effectifs de {len(outsiders)} commune(s) non membre(s) ignorés pour la rentrée "
                                  f"{rentree} : {', '.join(names)}{more}"))
    return per_commune.select("code_insee", "ecoles", "eleves", "classes").sort("code_insee"), problems


def _per_commune(year_rows: pl.DataFrame, form: str) -> pl.DataFrame:
    """Schools and pupils per attributed commune: declared (per-commune form) or counted from public schools."""
    if form == "par_commune":
        per_commune = year_rows.filter(pl.col("code_insee").is_not_null()).group_by("code_insee").agg(
            pl.col("ecoles_declarees").sum().cast(pl.Int64).alias("ecoles"),
            pl.col("eleves").sum().cast(pl.Int64).alias("eleves"),
            pl.col("classes").cast(pl.Int64).sum().alias("classes"),
            pl.len().alias("lignes"),
        )
    else:
        public = year_rows.filter(pl.col("code_insee").is_not_null() & (pl.col("secteur") == SECTEUR_PUBLIC))
        with_pupils = public.filter(pl.col("eleves") > 0)
        per_commune = (
            year_rows.filter(pl.col("code_insee").is_not_null()).select("code_insee").unique()
            .join(
                with_pupils.group_by("code_insee").agg(
                    pl.col("uai").n_unique().cast(pl.Int64).alias("ecoles"),
                    pl.col("eleves").sum().cast(pl.Int64).alias("eleves"),
                    # classes of the public schools counted (DESIGN §4b), one row per school
                    pl.col("classes").cast(pl.Int64).sum().alias("classes"),
                ),
                on="code_insee", how="left",
            )
            .with_columns(pl.col("ecoles").fill_null(0), pl.col("eleves").fill_null(0), pl.col("classes").fill_null(0))
        )
    return per_commune


def _unattributed_problems(rows: pl.DataFrame, display: str, member_codes: set[str], register: Register
                           ) -> list[Problem]:
    """Unattributed schools are listed: an error where they may belong to a member, else a warning."""
    member_deps = {register.commune(c).departement for c in member_codes if register.commune(c)}
    problems = []
    for rec in rows.iter_rows(named=True):
        uai = rec.get("uai") or ""
        dep = departement_of_uai(uai)
        name = rec.get("commune_nom") or rec.get("code_insee") or ""
        why = rec.get("candidats")
        message = (f"l'école {uai or '(sans UAI)'} de « {name} »"
                   f"{' (code postal ' + rec['code_postal'] + ')' if rec.get('code_postal') else ''} "
                   f"n'a pu être rattachée à aucune commune du référentiel")
        if why:
            message += f" ; communes possibles : {why}"
        if dep is None or dep in member_deps:
            problems.append(P.error(display, rec["_row"], None, message,
                                    suggestion="Ajoutez un fichier annuaire.csv (UAI → code commune) ou corrigez "
                                               "le nom de la commune."))
        else:
            problems.append(P.warning(display, rec["_row"], None, message + " (hors des départements des membres)"))
    return problems




def _empty_counts() -> pl.DataFrame:
    return pl.DataFrame(schema={"code_insee": pl.Utf8, "ecoles": pl.Int64, "eleves": pl.Int64, "classes": pl.Int64})
