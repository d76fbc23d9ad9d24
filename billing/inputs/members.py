"""Typed, checked, resolved inputs: raw tables -> clean frames, every problem collected.

Reading knows files and headers (``readers``), the register knows communes
(``register``); this stage applies the rules of DESIGN §3/§4 between tables and turns
pandera's failure cases into problems that point at a spreadsheet cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import polars as pl
from pandera.errors import SchemaError, SchemaErrors

from billing.core import problems as P
from billing.core.problems import Problem
from billing.inputs.cells import MAX_DETAILS
from billing.inputs.readers import Table
from billing.inputs.register import Register, fold_name, same_spelling, suggestion_text

ADHESIONS_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "code_insee": ("code_insee", "insee", "code_commune", "code_commune_insee", "code insee", "cog"),
    "commune": ("commune", "nom", "nom_commune", "libelle", "nom_de_la_commune"),
    "statut": ("statut", "status", "etat"),
    "date_effet": ("date_effet", "date_d_effet", "date_adhesion", "date_d_adhesion", "debut", "effet"),
    "date_retrait": ("date_retrait", "date_de_retrait", "retrait", "fin", "date_fin"),
    "deliberation_commune": ("deliberation_commune", "deliberation_municipale", "delib_commune"),
    "deliberation_syndicat": ("deliberation_syndicat", "deliberation_comite", "delib_syndicat"),
    "groupe": ("groupe",),
    "siret": ("siret", "siret_commune"),
    "delegue": ("delegue", "delegue_e", "representant"),
    "population": ("population", "population_de_reference", "population_legale", "population_totale"),
    "mode_contribution": ("mode_contribution", "mode_de_contribution", "contribution"),
    "competences": ("competences", "competences_transferees"),  # DESIGN §4c
    "debiteur": ("debiteur", "code_debiteur", "payeur"),
}
ADHESIONS_TYPES = {
    "code_insee": "code_insee",
    "commune": "text",
    "statut": "text",
    "date_effet": "date",
    "date_retrait": "date",
    "siret": "siret",
    "population": "int",
}
MODE_ALIASES = {"titre": "titre", "fiscalisee": "fiscalisee", "fiscalise": "fiscalisee", "fiscalisation": "fiscalisee"}

STATUT_ALIASES = {
    "adherente": "adherente",
    "adherent": "adherente",
    "membre": "adherente",
    "conditionnelle": "conditionnelle",
    "conditionnel": "conditionnelle",
    "retiree": "retiree",
    "retire": "retiree",
    "retrait": "retiree",
}

SECTEUR_PUBLIC = "public"
SECTEUR_PRIVE = "prive"


def statut_expr(column: str = "statut") -> pl.Expr:
    """« Adhérente », « adherente », « ADHERENTE » -> adherente; unknown text kept for the schema to refuse."""
    folded = pl.col(column).str.to_lowercase().str.strip_chars()
    folded = folded.str.replace_all("[éèêë]", "e").str.replace_all("[ ]", "")
    return folded.replace_strict(STATUT_ALIASES, default=pl.col(column), return_dtype=pl.Utf8).alias(column)


def _mode_expr(column: str = "mode_contribution") -> pl.Expr:
    """« Fiscalisée », « fiscalisee » -> fiscalisee; empty -> titre (the default); unknown text kept for the schema."""
    folded = pl.col(column).str.to_lowercase().str.strip_chars().str.replace_all("[éèêë]", "e")
    return (folded.replace_strict(MODE_ALIASES, default=pl.col(column), return_dtype=pl.Utf8)
            .fill_null("titre").alias(column))


def secteur_expr(column: str = "secteur") -> pl.Expr:
    """PUBLIC/Public -> public; every PRIVE… variant (« PRIVE SOUS CONTRAT », « Privé ») -> prive."""
    folded = pl.col(column).str.to_lowercase().str.strip_chars().str.replace_all("é", "e")
    return (
        pl.when(folded.str.starts_with("public"))
        .then(pl.lit(SECTEUR_PUBLIC))
        .when(folded.str.starts_with("prive"))
        .then(pl.lit(SECTEUR_PRIVE))
        .otherwise(pl.col(column))
        .alias(column)
    )


def schema_problems(model, frame: pl.DataFrame, table: Table, *, column_names: Mapping[str, str] | None = None
                    ) -> list[Problem]:
    """Run a pandera model lazily on a collected frame; every failure becomes a located problem."""
    try:
        model.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    except SchemaError as exc:  # non-lazy path, kept for safety
        return [P.error(table.display, None, None, str(exc))]
    else:
        return []
    found: list[Problem] = []
    rows = frame["_row"].to_list() if "_row" in frame.columns else None
    seen: dict[tuple, int] = {}
    for case in cases.iter_rows(named=True):
        key = (case.get("column"), case.get("check"))
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > MAX_DETAILS:
            continue  # counted below: a file of 300 000 bad rows gives a readable list, not 300 000 lines
        index = case.get("index")
        row = rows[index] if rows is not None and index is not None and index < len(rows) else None
        column = case.get("column")
        message = case.get("check") or "valeur refusée"
        if case.get("schema_context") == "DataFrameSchema":
            # a rule across columns names the column it is about first: « date_effet : … »
            key, sep, rest = message.partition(" : ")
            if sep and key in frame.columns:
                header = table.headers.get(key, key) if column_names is None else column_names.get(key, key)
                empty = index is not None and index < frame.height and frame[key][index] is None
                found.append(P.error(table.display, row, header, rest, value=_as_typed(table, key, row),
                                     code=P.Code.MISSING if empty else P.Code.INCONSISTENT))
            else:
                found.append(P.error(table.display, row, None, message))
            continue
        header = table.headers.get(column, column) if column_names is None else column_names.get(column, column)
        value = _as_typed(table, column, row) or case.get("failure_case")  # « 01/03/2101 », not « 2101-03-01 »
        # a rule failing on an empty typed cell says « missing »: when the cell held text that could not be read,
        # that is an echo of the reading error, which billing.year.drop_echoes leaves out
        code = P.Code.MISSING if case.get("failure_case") is None else P.Code.INVALID
        found.append(P.error(table.display, row, header, message, value=None if value is None else str(value),
                             code=code))
    for (column, check), count in seen.items():
        if count > MAX_DETAILS:
            header = table.headers.get(column, column) if column_names is None else column_names.get(column, column)
            found.append(P.error(table.display, None, header,
                                 f"{count - MAX_DETAILS} autres lignes dans le même cas (« {check} ») : seules les "
                                 f"{MAX_DETAILS} premières sont détaillées ; {count} en tout"))
    return found


def _as_typed(table: Table, column: str | None, row: int | None) -> str | None:
    """The cell's text as the user typed it (the frame checked may be filtered: found by row number)."""
    if column is None or row is None or column not in table.frame.columns or "_row" not in table.frame.columns:
        return None
    cells = table.frame.filter(pl.col("_row") == row).get_column(column)
    return cells[0] if cells.len() and isinstance(cells[0], str) else None


@dataclass(frozen=True)
class ResolvedMembers:
    members: pl.DataFrame
    problems: tuple[Problem, ...]


def resolve_members(frame: pl.DataFrame, table: Table, register: Register) -> ResolvedMembers:
    """Give every member row its COM code: the code wins, a name is resolved exactly after folding.

    Names shared by several communes are resolved within the départements of the members
    that resolved unambiguously (DESIGN §3); anything fuzzier is an error with suggestions.
    """
    problems: list[Problem] = []
    header_code = table.headers.get("code_insee", "code_insee")
    header_name = table.headers.get("commune", "commune")
    facts = register.facts_frame().select("code_insee", pl.col("commune").alias("_libelle"), pl.col("nom").alias("_nom"),
                                          pl.col("departement").alias("_dep"))
    joined = frame.select("_row", "code_insee", "commune").join(facts, on="code_insee", how="left")
    # The common case, done column-wise: a COM code whose name is absent or written as the register does.
    plain = joined.filter(pl.col("_libelle").is_not_null()
                          & (pl.col("commune").is_null() | (pl.col("commune") == pl.col("_libelle"))
                             | (pl.col("commune") == pl.col("_nom"))))
    resolved: dict[int, str | None] = dict(zip(plain["_row"].to_list(), plain["code_insee"].to_list()))
    rows = joined.filter(~pl.col("_row").is_in(plain["_row"].implode())).select("_row", "code_insee", "commune").to_dicts()
    pending = [rec for rec in rows if rec["code_insee"] is None and rec["commune"] is not None]
    for rec in rows:
        if rec["code_insee"] is not None:
            problems += _resolve_code_row(register, rec, resolved, table.display, header_code, header_name)
    # Two passes (DESIGN §3): the names that designate one commune in all France fix départements
    # too, then a name shared by communes of several départements is looked for in those.
    known = {register.commune(c).departement for c in set(resolved.values()) if c and register.commune(c)}
    for rec in pending:
        res = register.resolve_name(rec["commune"])
        if res.status == "ok" and res.commune is not None and len(res.candidates) <= 1:
            known.add(res.commune.departement)
    for rec in pending:
        problems += _resolve_name_row(register, rec, resolved, known, table.display, header_name)
    codes = [resolved.get(r) for r in frame["_row"].to_list()]
    members = frame.with_columns(pl.Series("code_insee", codes, dtype=pl.Utf8))
    problems.extend(_duplicate_members(members, table, header_code, register))
    return ResolvedMembers(members, tuple(problems))


def _resolve_code_row(register: Register, rec: dict, resolved: dict[int, str | None], display: str,
                      header_code: str, header_name: str) -> list[Problem]:
    code, name, row = rec["code_insee"], rec["commune"], rec["_row"]
    res = register.resolve_code(code)
    if res.status != "ok" or res.commune is None:
        resolved[row] = None
        return [P.error(display, row, header_code, "n'est pas un code INSEE de commune du référentiel", value=code,
                        suggestion=_name_hint(register, name))]
    commune = res.commune
    resolved[row] = commune.code_insee
    problems = []
    if res.via == "code_delegue":
        problems.append(P.warning(display, row, header_code,
                                  f"est le code d'une commune déléguée ou associée : la contribution est due par "
                                  f"{commune.libelle} ({commune.code_insee})", value=code))
    if name is not None:
        problems.extend(_check_name_against_code(register, name, commune, display, row, header_name))
    return problems


def _resolve_name_row(register: Register, rec: dict, resolved: dict[int, str | None], known: set[str],
                      display: str, header_name: str) -> list[Problem]:
    name, row = rec["commune"], rec["_row"]
    res = register.resolve_name(name, departements=known or None)
    if res.status == "ok" and res.commune is not None:
        resolved[row] = res.commune.code_insee
        if len(res.candidates) > 1 or res.spelling_differs or res.via == "nom_delegue":
            detail = f"résolu en « {res.commune.libelle} » ({res.commune.code_insee})"
            if len(res.candidates) > 1:
                others = ", ".join(f"{c.libelle} ({c.code_insee})" for c in res.candidates if c != res.commune)
                detail += f", dans le département des autres membres ; homonymes écartés : {others}"
            return [P.warning(display, row, header_name, detail, value=name)]
        return []
    resolved[row] = None
    if res.status == "ambigu":
        names = " ou ".join(f"« {c.libelle} » ({c.code_insee}, {c.departement_nom})" for c in res.candidates)
        return [P.error(display, row, header_name, "désigne plusieurs communes du référentiel ; indiquez le code_insee",
                        value=name, suggestion=f"Candidates : {names}.")]
    return [P.error(display, row, header_name, "n'est pas une commune du référentiel.", value=name,
                    suggestion=suggestion_text(res))]


def _name_hint(register: Register, name: str | None) -> str | None:
    if not name:
        return None
    res = register.resolve_name(name)
    if res.status == "ok" and res.commune is not None:
        return f"La commune « {name} » a pour code {res.commune.code_insee}."
    return suggestion_text(res)


def _check_name_against_code(register: Register, name: str, commune, display: str, row: int, header: str
                             ) -> list[Problem]:
    if same_spelling(name, commune.libelle, commune.nom):
        return []  # case, apostrophe glyph, article after the name: nothing worth an officer's time
    if fold_name(name) in (fold_name(commune.libelle), fold_name(commune.nom)):
        return [P.warning(display, row, header, f"orthographe officielle : « {commune.libelle} »", value=name)]
    return [P.warning(display, row, header,
                      f"ne correspond pas au code {commune.code_insee} (« {commune.libelle} ») ; le code est retenu",
                      value=name, suggestion=f"Corrigez le nom en « {commune.libelle} » ou vérifiez le code.")]


def _duplicate_members(members: pl.DataFrame, table: Table, header: str, register: Register) -> list[Problem]:
    found = []
    first_row: dict[str, int] = {}
    for code, row in members.select("code_insee", "_row").iter_rows():
        if code is None:
            continue
        if code in first_row:
            commune = register.commune(code)
            label = commune.libelle if commune else code
            found.append(P.error(table.display, row, header,
                                 f"{label} ({code}) figure déjà ligne {first_row[code]} : une commune n'a qu'une ligne",
                                 value=code, suggestion="Supprimez le doublon ou fusionnez les deux lignes."))
        else:
            first_row[code] = row
    return found


def describe_rows(rows: Iterable[int], limit: int = 8) -> str:
    rows = sorted(set(rows))
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f"… (+{len(rows) - limit})" if len(rows) > limit else "")


def read_members(path, *, display: str, register: Register) -> tuple[pl.DataFrame | None, list[Problem]]:
    """adhesions.csv/xlsx -> one typed, checked, resolved row per member (``None`` when it cannot be read)."""
    from dataclasses import replace

    from billing.inputs import readers
    from schemas.inputs import Adhesions

    table = readers.read_table(path, display=display, columns=ADHESIONS_COLUMNS, required=("statut",))
    problems: list[Problem] = list(table.problems)
    if any(p.is_error and p.row is None for p in table.problems):
        return None, problems
    if "code_insee" not in table.frame.columns and "commune" not in table.frame.columns:
        return None, [*problems, P.error(table.display, None, None,
                                         "il faut une colonne « code_insee » ou « commune »", code=P.Code.MISSING,
                                         suggestion=f"Colonnes trouvées : {', '.join(table.headers.values())}.")]
    if table.frame.height == 0:
        return None, [*problems, P.error(table.display, None, None, "aucune commune membre dans le fichier",
                                         code=P.Code.MISSING)]
    frame = table.frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(column)
                                     for column in ADHESIONS_COLUMNS if column not in table.frame.columns)
    table = replace(table, frame=frame)
    typed, found = readers.coerce(table, ADHESIONS_TYPES)
    problems += found
    typed = typed.with_columns(statut_expr("statut"), _mode_expr())
    problems += schema_problems(Adhesions, typed, table)
    resolved = resolve_members(typed, table, register)
    return resolved.members, [*problems, *resolved.problems]
