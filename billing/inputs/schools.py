"""Schools of the Éducation nationale export -> the commune (COM) each one counts for (DESIGN §3).

Everything is done by joins over the whole file (no per-row Python), so a national export
of 50 000 schools is attributed in well under a second. Each step below returns a small
frame keyed by ``_i`` (the school's position); ``attribute_schools`` puts them together.
"""

from __future__ import annotations

import polars as pl

from billing.inputs.register import MAX_LISTED_CANDIDATES, Register, _key_from_words, _words_expr

SCHOOL_COLUMNS = ("uai", "commune_nom", "code_postal", "code_insee")
ATTRIBUTIONS = ("annuaire", "code", "code_delegue", "nom", "nom_delegue", "code_postal", "nom_ancien")
# The rule that decides with a warning: a commune renamed since the export was made.
RENAMED = "nom_ancien"


def attribute_schools(register: Register, schools: pl.DataFrame, *, annuaire: pl.DataFrame | None = None
                      ) -> pl.DataFrame:
    """Give every school of an effectifs export the COM it counts for.

    Adds ``code_insee_resolu`` (COM code or null), ``attribution`` (which rule decided:
    « annuaire », « code », « code_delegue », « nom », « nom_delegue », « code_postal »,
    « nom_ancien », or null) and ``candidats`` (« Croix (59163), Croix (90030) » when
    several communes remain). Rules, first that applies:

    1. ``annuaire`` (columns uai, code_insee) maps the UAI to its commune;
    2. the ``code_insee`` hint when it is a code of the register in the UAI's département
       (a COMD/COMA code counts for its parent); a hint that equals the row's postal code
       and that the name does not confirm is taken as a postal code, as is any 5-digit
       hint that is no INSEE code;
    3. the folded name within the UAI's département (UAI « 059… » → 59, « 620… » → 2A,
       « 720… » → 2B), names of communes déléguées/associées counting for their parent;
       several candidates are narrowed by the postal code, then by the name as written
       with its article, then by preferring a current commune to a former one;
    4. a name found nowhere in the département: the postal code, when exactly one commune
       of the département has it (a renamed or merged commune);
    5. when several communes share that postal code, the one whose official name holds the
       name of the export as whole words (« MONTAUBAN » → Montauban-de-Bretagne: the
       commune was renamed), attributed as « nom_ancien », which callers report as a
       warning; several such communes stay undecided, all listed.
    """
    tables = register._attribution_tables
    base = _school_keys(schools, tables)
    candidates = _name_candidates(base, tables)
    chosen_several, left_several = _narrow_homonyms(candidates, tables)
    by_postal_one, renamed, left_postal = _by_postal_code(base, candidates, tables, register)
    decided = pl.concat([_single_candidates(candidates), chosen_several, by_postal_one, renamed]).select(
        "_i", pl.col("parent").alias("_name_parent"), pl.col("via").alias("name_via"))
    undecided = pl.concat([left_several, left_postal])
    confirmed = candidates.select("_i", pl.col("parent").alias("_hint_parent"), pl.lit(True).alias("_confirmed"))
    result = _with_annuaire(base, annuaire, tables.codes.lazy())
    result = _decide(result, confirmed, decided, undecided)
    present = set(schools.columns)
    return schools.drop([c for c in ("code_insee_resolu", "attribution", "candidats") if c in present]).hstack(result)


def _school_keys(schools: pl.DataFrame, tables) -> pl.LazyFrame:
    """One row per school: its UAI, name keys, postal code, code hint and what the register says of the hint."""
    present = set(schools.columns)
    column = {c: (pl.col(c).cast(pl.Utf8) if c in present else pl.lit(None, dtype=pl.Utf8)) for c in SCHOOL_COLUMNS}
    base = schools.lazy().select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"),
        _blank_to_null(column["uai"]).str.to_uppercase().alias("_uai"),
        _blank_to_null(column["commune_nom"]).alias("_nom"),
        _code_expr(column["code_postal"]).alias("_cp"),
        _code_expr(column["code_insee"]).alias("_hint"),
    )
    folded = (
        base.select("_nom").unique().drop_nulls()
        .with_columns(_words_expr(pl.col("_nom")).alias("_words"))
        .select(
            "_nom",
            _blank_to_null(_key_from_words(pl.col("_words"), keep_article=False)).alias("_cle"),
            _key_from_words(pl.col("_words"), keep_article=True).alias("_ecrit"),
        )
    )
    codes = tables.codes.lazy()
    return (
        base.join(folded, on="_nom", how="left")
        .join(tables.uai_prefixes.lazy(), left_on=pl.col("_uai").str.slice(0, 3), right_on="prefix", how="left")
        .drop("prefix", strict=False)
        .join(codes.rename({"code": "_hint", "parent": "_hint_parent", "via": "_hint_via", "code_dep": "_hint_dep"}),
              on="_hint", how="left")
        .with_columns(
            (pl.col("_hint_parent").is_not_null() & (pl.col("dep").is_null() | (pl.col("_hint_dep") == pl.col("dep"))))
            .alias("_hint_known"))
        .with_columns(
            pl.coalesce(
                "_cp",
                pl.when(~pl.col("_hint_known") & pl.col("_hint").str.contains(r"^\d{5}$")).then(pl.col("_hint")),
            ).alias("_cp_eff"))
        .collect()
        .lazy()
    )


def _name_candidates(base: pl.LazyFrame, tables) -> pl.LazyFrame:
    """One row per (school, parent commune) whose name folds like the school's, in its département."""
    return (
        base.select("_i", "_cle", "_ecrit", "dep", "_cp_eff").filter(pl.col("_cle").is_not_null())
        .join(tables.names.lazy(), left_on="_cle", right_on="cle", how="inner")
        .filter(pl.col("dep").is_null() | (pl.col("name_dep") == pl.col("dep")))
        .with_columns(pl.len().over("_i").alias("n"))
        .collect()
        .lazy()
    )


def _direct_via() -> pl.Expr:
    return pl.when(pl.col("direct")).then(pl.lit("nom")).otherwise(pl.lit("nom_delegue"))


def _single_candidates(candidates: pl.LazyFrame) -> pl.LazyFrame:
    return candidates.filter(pl.col("n") == 1).select("_i", "parent", _direct_via().alias("via"))


def _narrow_homonyms(candidates: pl.LazyFrame, tables) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Several name candidates, narrowed like resolve_name: the postal code, then the name as written with
    its article (« VERGNE » is Vergné, not La Vergne), then a current commune. -> (chosen, still several)."""
    several = (
        candidates.filter(pl.col("n") > 1)
        .join(tables.postal.lazy().select("parent", "cp", pl.lit(True).alias("hit")),
              left_on=["parent", "_cp_eff"], right_on=["parent", "cp"], how="left")
        .with_columns(pl.col("hit").fill_null(False), pl.lit(True).alias("all"),
                      pl.col("ecrits").list.contains(pl.col("_ecrit")).fill_null(False).alias("written"))
    )
    several = _narrowed(several, "all", "hit", "by_cp")
    several = _narrowed(several, "by_cp", "written", "by_written")
    several = _narrowed(several, "by_written", "direct", "in_pool")
    several = several.with_columns(
        pl.when(pl.col("by_cp") & (pl.col("by_cp_n") == 1)).then(pl.lit("code_postal"))
        .when(pl.col("in_pool") & (pl.col("in_pool_n") == 1)).then(_direct_via())
        .alias("via")
    ).collect().lazy()
    chosen = several.filter(pl.col("via").is_not_null()).select("_i", "parent", "via")
    left = (
        several.filter(pl.col("in_pool")).join(chosen.select("_i"), on="_i", how="anti")
        .join(tables.labels.lazy(), on="parent", how="left")
        .group_by("_i").agg(pl.col("label").sort_by("parent").alias("_labels"))
    )
    return chosen, left


def _by_postal_code(base: pl.LazyFrame, candidates: pl.LazyFrame, tables, register: Register
                    ) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """A name found nowhere in the département: the communes of its postal code.

    -> (one commune has the code, the renamed commune among several, still several with their labels)."""
    by_postal = (
        base.select("_i", "dep", "_cp_eff", "_nom").filter(pl.col("_cp_eff").is_not_null())
        .join(candidates.select("_i"), on="_i", how="anti")
        .join(tables.postal.lazy(), left_on="_cp_eff", right_on="cp", how="inner")
        .filter(pl.col("dep").is_null() | (pl.col("cp_dep") == pl.col("dep")))
        .select("_i", "_nom", "parent").unique()
        .collect()
        .lazy()
    )
    count = pl.col("parent").n_unique().over("_i")
    one = by_postal.filter(count == 1).select("_i", "parent", pl.lit("code_postal").alias("via"))
    several = by_postal.filter(count > 1)
    holds = (
        several.join(_official_words(register), on="parent", how="left")
        .with_columns(_words_in(_plain_words(pl.col("_nom")), pl.col("_mots")).alias("holds"))
        .filter(pl.col("holds"))
    )
    renamed = holds.filter(pl.len().over("_i") == 1).select("_i", "parent", pl.lit(RENAMED).alias("via"))
    # Several communes hold the name: those are the ones to list; none does: every commune of the code.
    listed = pl.concat([holds.filter(pl.len().over("_i") > 1).select("_i", "parent"),
                        several.join(holds.select("_i"), on="_i", how="anti").select("_i", "parent")])
    left = (
        listed.join(tables.labels.lazy(), on="parent", how="left")
        .group_by("_i").agg(pl.col("label").sort_by("parent").alias("_labels"))
    )
    return one, renamed, left


def _plain_words(expr: pl.Expr) -> pl.Expr:
    """Folded words, « st » spelled out, the leading article dropped: « ST MALO » -> « saint malo »."""
    words = _words_expr(expr).str.replace_all(r"(?-u:\b)st(e?s?)(?-u:\b)", "saint${1}")
    return words.str.replace(r"^(?:le|la|les|l|aux|las|los) (\S)", "$1")


def _official_words(register: Register) -> pl.LazyFrame:
    com = register.frame.lazy().filter(pl.col("type") == "COM")
    return com.select(pl.col("code_insee").alias("parent"), _plain_words(pl.col("libelle")).alias("_mots"))


def _words_in(needle: pl.Expr, haystack: pl.Expr) -> pl.Expr:
    """``needle`` appears in ``haystack`` as whole words (at its start or anywhere), and is not all of it."""
    padded = pl.lit(" ") + haystack + pl.lit(" ")
    return (needle.str.len_chars() > 0) & (needle != haystack) & padded.str.contains(
        pl.lit(" ") + needle + pl.lit(" "), literal=True)


def _with_annuaire(base: pl.LazyFrame, annuaire: pl.DataFrame | None, codes: pl.LazyFrame) -> pl.LazyFrame:
    """``_annuaire_parent``: the commune the Annuaire gives for the UAI (null without an annuaire)."""
    if annuaire is None or not {"uai", "code_insee"} <= set(annuaire.columns):
        return base.with_columns(pl.lit(None, dtype=pl.Utf8).alias("_annuaire_parent"))
    mapped = (
        annuaire.lazy()
        .select(_blank_to_null(pl.col("uai").cast(pl.Utf8)).str.to_uppercase().alias("_uai"),
                _code_expr(pl.col("code_insee").cast(pl.Utf8)).alias("code"))
        .drop_nulls()
        .unique("_uai", keep="first", maintain_order=True)
        .join(codes.select("code", pl.col("parent").alias("_annuaire_parent")), on="code", how="inner")
        .select("_uai", "_annuaire_parent")
    )
    return base.join(mapped, on="_uai", how="left")


def _decide(result: pl.LazyFrame, confirmed: pl.LazyFrame, decided: pl.LazyFrame, undecided: pl.LazyFrame
            ) -> pl.DataFrame:
    """The first rule that applies, per school: annuaire, then the code hint, then the name steps."""
    hint_is_postal = (pl.col("_hint") == pl.col("_cp")).fill_null(False)
    hint_ok = pl.col("_hint_known") & (~hint_is_postal | pl.col("_cle").is_null() | pl.col("_confirmed"))
    return (
        result.join(confirmed, on=["_i", "_hint_parent"], how="left")
        .with_columns(pl.col("_confirmed").fill_null(False))
        .join(decided, on="_i", how="left")
        .join(undecided, on="_i", how="left")
        .with_columns(pl.when(hint_ok).then(pl.col("_hint_parent")).alias("_hint_parent"))
        .select(
            "_i",
            pl.coalesce("_annuaire_parent", "_hint_parent", "_name_parent").alias("code_insee_resolu"),
            pl.when(pl.col("_annuaire_parent").is_not_null()).then(pl.lit("annuaire"))
            .when(pl.col("_hint_parent").is_not_null()).then(pl.col("_hint_via"))
            .otherwise(pl.col("name_via"))
            .alias("attribution"),
            pl.col("_labels").alias("_candidats"),
        )
        .with_columns(
            pl.when(pl.col("code_insee_resolu").is_null() & (pl.col("_candidats").list.len() > 0))
            .then(_readable_list(pl.col("_candidats")))
            .alias("candidats")
        )
        .sort("_i")
        .select("code_insee_resolu", "attribution", "candidats")
        .collect()
    )


def _narrowed(frame: pl.LazyFrame, pool: str, keep: str, name: str) -> pl.LazyFrame:
    """Column ``name``: the rows of ``pool`` that satisfy ``keep``, or all of ``pool`` when none does."""
    kept = pl.col(pool) & pl.col(keep)
    return frame.with_columns(
        (pl.col(pool) & (pl.col(keep) | (kept.sum().over("_i") == 0))).alias(name)
    ).with_columns(pl.col(name).sum().over("_i").alias(f"{name}_n"))


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_chars().replace("", None)


def _code_expr(expr: pl.Expr) -> pl.Expr:
    """``normalize_code`` as an expression: no spaces, upper case, « 59350.0 » and « 1001 » repaired."""
    return (
        expr.str.replace_all(r"\s+", "")
        .str.to_uppercase()
        .str.strip_suffix(".0")
        .str.replace(r"^(\d{4})$", "0${1}")
        .replace("", None)
    )


def _readable_list(labels: pl.Expr) -> pl.Expr:
    shown = labels.list.head(MAX_LISTED_CANDIDATES).list.join(", ")
    more = labels.list.len().cast(pl.Int64) - MAX_LISTED_CANDIDATES
    return pl.when(more > 0).then(shown + pl.lit(", … (+") + more.cast(pl.Utf8) + pl.lit(")")).otherwise(shown)
