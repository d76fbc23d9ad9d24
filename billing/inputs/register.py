"""The commune register (Code officiel géographique) and the resolution of codes and names.

The register ships inside the package (``billing/data/communes.parquet``, built by
``scripts/build_register.py``): every commune (COM), commune déléguée (COMD), commune
associée (COMA) and municipal district (ARM/SRM), the last four pointing at their parent
COM. Only a COM is ever billed; everything else rolls up to its ``code_parent``.

Names are matched exactly after folding (case, accents, ligatures, hyphens, apostrophes,
« St »/« Ste », leading article): never fuzzily. Fuzzy matching only makes suggestions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import polars as pl

REGISTER_PATH = Path(__file__).parent / "data" / "communes.parquet"

# Leading articles of official names (INSEE tncc 2–8); « l » is what « L' » leaves once
# apostrophes are separators.
ARTICLES = frozenset({"le", "la", "les", "l", "aux", "las", "los"})
# Abbreviations seen in real exports (« ST MALO », « STE MARIE »), folded to the full word.
ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}

# « Madeleine (La) », « QUESNOY (LE) », « Haÿ-les-Roses (L') »: the article written after
# the name, as older INSEE lists and many spreadsheets do; read as « La Madeleine ».
_TRAILING_ARTICLE = r"(?i)^(.*?)\s*\(\s*(le|la|les|l|l'|l’|aux|las|los)\s*\)\s*$"
_TRAILING_ARTICLE_RE = re.compile(_TRAILING_ARTICLE[:-1] + r"\Z")  # Python's $ would also match before a newline
_LIGATURES = {"œ": "oe", "æ": "ae", "ß": "ss"}
_LIGATURE_TABLE = str.maketrans(_LIGATURES)
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def article_first(text: str) -> str:
    """« Madeleine (La) » -> « La Madeleine », « Haÿ-les-Roses (L') » -> « L'Haÿ-les-Roses »; else unchanged."""
    match = _TRAILING_ARTICLE_RE.match(text)
    if match is None:
        return text
    article, name = match.group(2), match.group(1)
    if article.lower() == "l":
        article += "'"
    return f"{article}{name}" if article.endswith(("'", "’")) else f"{article} {name}"


def fold_name(text: str, *, keep_article: bool = False) -> str:
    """The key two spellings of one commune name share.

    « La Madeleine » = « Madeleine » = « LA MADELEINE » = « Madeleine (La) »; « Marcq-en-Barœul » = « MARCQ EN
    BAROEUL »; « L'HERMITAGE » = « Hermitage »; « ST MALO » = « Saint-Malo ».
    ``keep_article`` keeps the leading article (« lamadeleine »): only to break a tie
    between « Vergné » and « La Vergne ». Mirrors ``fold_name_expr`` exactly (a test checks
    both on the whole register).
    """
    lowered = article_first(text).lower().translate(_LIGATURE_TABLE)
    decomposed = unicodedata.normalize("NFKD", lowered)
    bare = "".join(ch for ch in decomposed if not unicodedata.category(ch).startswith("M"))
    tokens = [t for t in _SEPARATORS.split(bare) if t]
    if not keep_article and len(tokens) > 1 and tokens[0] in ARTICLES:
        tokens = tokens[1:]
    return "".join(ABBREVIATIONS.get(t, t) for t in tokens)


def fold_name_expr(expr: pl.Expr, *, keep_article: bool = False) -> pl.Expr:
    """``fold_name`` as a polars expression, for attributing a national file at once."""
    return _key_from_words(_words_expr(expr), keep_article=keep_article)


def _words_expr(expr: pl.Expr) -> pl.Expr:
    """Lower-case ascii words separated by one space: the common part of both keys."""
    folded = expr.str.replace(_TRAILING_ARTICLE, "$2 $1").str.to_lowercase()
    for ligature, replacement in _LIGATURES.items():
        folded = folded.str.replace_all(ligature, replacement, literal=True)
    return (
        folded.str.normalize("NFKD")
        .str.replace_all(r"\p{M}+", "")
        .str.replace_all(r"[^a-z0-9]+", " ")
        .str.strip_chars(" ")
    )


def _key_from_words(words: pl.Expr, *, keep_article: bool) -> pl.Expr:
    if not keep_article:
        words = words.str.replace(r"^(?:" + "|".join(sorted(ARTICLES)) + r") (\S)", "$1")
    # One pass for the four ABBREVIATIONS: st, ste, sts, stes -> saint, sainte, saints, saintes.
    words = words.str.replace_all(r"(?-u:\b)st(e?s?)(?-u:\b)", "saint${1}")
    return words.str.replace_all(" ", "", literal=True)


@dataclass(frozen=True)
class Commune:
    """One commune (type COM) of the register, the only kind that is ever billed."""

    code_insee: str
    type: str
    libelle: str
    nom: str
    tncc: int
    code_parent: str | None
    population: int | None
    codes_postaux: tuple[str, ...]
    departement: str
    departement_nom: str
    region: str
    region_nom: str
    epci_siren: str | None
    epci_nom: str | None
    mairie_adresse: str | None


COMMUNE_FIELDS = tuple(Commune.__dataclass_fields__)


@dataclass(frozen=True)
class Resolution:
    """What a code or a name designates in the register, and how sure we are.

    ``status``: « ok » (``commune`` is set), « ambigu » (``candidates`` lists the communes
    that remain), « inconnu » (``suggestions``: nearest (libelle, code_insee), best first).
    With « ok », ``candidates`` holds every homonym considered (more than one when the
    départements or the postal code chose), ``via`` says how the commune was found
    (« code », « code_delegue », « nom », « nom_delegue »), ``spelling_differs`` whether
    the text differs from the official name beyond case, ``code_corrected`` whether a
    code was read as a number that had lost its leading zero (« 1001 » → « 01001 »).
    """

    status: str
    commune: Commune | None = None
    candidates: tuple[Commune, ...] = ()
    suggestions: tuple[tuple[str, str], ...] = ()
    via: str = ""
    spelling_differs: bool = False
    code_corrected: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# Suggestions: folded-key similarity (rapidfuzz ratio, 0–100) at least this, and no
# further than SUGGESTION_MARGIN below the best one (« Saily » gets Sailly, not Lys too).
SUGGESTION_CUTOFF = 75.0
SUGGESTION_MARGIN = 8.0
MAX_SUGGESTIONS = 3
MAX_LISTED_CANDIDATES = 10

_CODE_PATTERN = re.compile(r"^(\d{5}|2[AB]\d{3})$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class _AttributionTables:
    codes: pl.DataFrame  # code, parent, via, code_dep (every code; a COM row wins over a COMD sharing it)
    names: pl.DataFrame  # cle, parent, name_dep, direct (a COM's own name), ecrits (keys keeping the article)
    postal: pl.DataFrame  # parent, cp, cp_dep
    labels: pl.DataFrame  # parent, label « Libellé (code) »
    uai_prefixes: pl.DataFrame  # prefix (3 first characters of a UAI), dep


class Register:
    """The commune register with its lookup tables; build it with ``load_register()``.

    Immutable once built. ``frame`` holds every row (all types) as in the parquet.
    """

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame
        parent = pl.when(pl.col("type") == "COM").then(pl.col("code_insee")).otherwise(pl.col("code_parent"))
        located = frame.with_columns(parent.alias("parent"))
        com = frame.filter(pl.col("type") == "COM")
        others = frame.filter(pl.col("type") != "COM")
        # Few Python objects on purpose: the load stays well under 150 ms. Commune values
        # are made on demand from their row (a few µs each).
        self._com_frame = com.select(COMMUNE_FIELDS)
        com_codes: list[str] = com["code_insee"].to_list()
        com_keys: list[str] = com["cle"].to_list()
        self._index: dict[str, int] = dict(zip(com_codes, range(len(com_codes))))
        self._fuzzy_keys = com_keys
        self._fuzzy_codes = com_codes
        # A COMD often shares its code with its COM: the COM row wins.
        delegate_codes = others.filter(~pl.col("code_insee").is_in(com["code_insee"].implode()))
        self._parent_of: dict[str, str] = dict(
            zip(delegate_codes["code_insee"].to_list(), delegate_codes["code_parent"].to_list()))

        # Folded name -> COM codes; most names are unique, homonyms kept apart.
        homonyms = com.filter(pl.col("cle").is_duplicated()).group_by("cle").agg(pl.col("code_insee").sort())
        self._homonyms: dict[str, tuple[str, ...]] = {
            key: tuple(codes) for key, codes in zip(homonyms["cle"].to_list(), homonyms["code_insee"].to_list())}
        self._unique_key: dict[str, str] = dict(zip(com_keys, com_codes))
        delegated: dict[str, list[tuple[str, str, str]]] = {}
        for key, code_parent, libelle, nom in others.filter(pl.col("type") != "SRM").select(
                "cle", "code_parent", "libelle", "nom").rows():
            delegated.setdefault(key, []).append((code_parent, libelle, nom))
        self._delegate_by_key = {k: tuple(v) for k, v in delegated.items()}

        self._located = located

    @cached_property
    def _fuzzy_by_dep(self) -> dict[str, list[int]]:
        """Département -> positions of its communes in the fuzzy-match lists (built on first use)."""
        by_dep = self._com_frame.with_row_index("i").group_by("departement").agg(pl.col("i"))
        return dict(zip(by_dep["departement"].to_list(), by_dep["i"].to_list()))

    @cached_property
    def _postal_index(self) -> dict[str, tuple[str, ...]]:
        """Postal code -> COM codes; a municipal district's postal codes count for its city."""
        postal = (
            self._located.filter(pl.col("type").is_in(["COM", "ARM"]))
            .select("parent", pl.col("codes_postaux").alias("cp"))
            .explode("cp").drop_nulls("cp").unique()
            .group_by("cp").agg(pl.col("parent").sort())
        )
        return {cp: tuple(codes) for cp, codes in zip(postal["cp"].to_list(), postal["parent"].to_list())}

    @cached_property
    def _attribution_tables(self) -> _AttributionTables:
        """Frames for the vectorised attribution of a school file, built on first use."""
        located = self._located
        codes = (
            located.select(
                pl.col("code_insee").alias("code"),
                "parent",
                pl.when(pl.col("type") == "COM").then(pl.lit("code")).otherwise(pl.lit("code_delegue")).alias("via"),
                pl.col("departement").alias("code_dep"),
                (pl.col("type") == "COM").alias("is_com"),
            )
            .sort("is_com", "code", descending=[True, False])
            .unique("code", keep="first", maintain_order=True)
            .drop("is_com")
        )
        named = located.filter(pl.col("type") != "SRM").select(
            "cle", "libelle", "parent", (pl.col("type") == "COM").alias("direct"), pl.col("departement").alias("name_dep"))
        # The key keeping the article only breaks ties, so only names several communes share need it.
        shared = pl.col("parent").n_unique().over("cle") > 1
        with_article = pl.concat([
            named.filter(shared).with_columns(fold_name_expr(pl.col("libelle"), keep_article=True).alias("ecrit")),
            named.filter(~shared).with_columns(pl.lit(None, dtype=pl.Utf8).alias("ecrit")),
        ])
        names = (
            with_article.group_by("cle", "parent", "name_dep")
            .agg(pl.col("direct").any(), pl.col("ecrit").drop_nulls().unique().alias("ecrits"))
        )
        postal = (
            located.filter(pl.col("type").is_in(["COM", "ARM"]))
            .select("parent", pl.col("codes_postaux").alias("cp"))
            .explode("cp")
            .drop_nulls("cp")
            .unique()
            .join(self._com_frame.select(pl.col("code_insee").alias("parent"), pl.col("departement").alias("cp_dep")),
                  on="parent", how="left")
        )
        labels = self._com_frame.select(
            pl.col("code_insee").alias("parent"),
            (pl.col("libelle") + " (" + pl.col("code_insee") + ")").alias("label"),
        )
        deps = sorted(self.departements)
        prefixes = pl.DataFrame({"prefix": [uai_prefix(d) for d in deps], "dep": deps},
                                schema={"prefix": pl.Utf8, "dep": pl.Utf8})
        return _AttributionTables(codes, names, postal, labels, prefixes)

    # ----- lookups -------------------------------------------------------------------

    def commune(self, code: str | None) -> Commune | None:
        """The COM with this exact code, or None (a COMD/COMA code gives None: use resolve_code)."""
        index = self._index.get(code) if code else None
        if index is None:
            return None
        values = list(self._com_frame.row(index))
        values[7] = tuple(values[7] or ())
        return Commune(*values)

    def _departement(self, code: str) -> str:
        return self._com_frame.item(self._index[code], "departement")

    def _libelle(self, code: str) -> str:
        return self._com_frame.item(self._index[code], "libelle")

    def codes(self) -> tuple[str, ...]:
        """Every COM code, in code order."""
        return tuple(self._fuzzy_codes)

    @property
    def departements(self) -> frozenset[str]:
        return frozenset(self._com_frame["departement"].unique().to_list())

    def facts_frame(self, codes: Collection[str] | None = None) -> pl.DataFrame:
        """Register facts per COM code (for the billing base): one row per known code asked for."""
        com = self.frame.filter(pl.col("type") == "COM")
        if codes is not None:
            com = com.filter(pl.col("code_insee").is_in(pl.Series(list(codes), dtype=pl.Utf8).implode()))
        return com.select(
            "code_insee",
            pl.col("libelle").alias("commune"),
            "nom",
            "tncc",
            debtor_name_expr().alias("debiteur"),
            "population",
            "departement",
            "departement_nom",
            "region",
            "region_nom",
            "epci_siren",
            "epci_nom",
            "mairie_adresse",
        )

    def communes_with_postal_code(self, code_postal: str) -> tuple[Commune, ...]:
        return tuple(self.commune(c) for c in self._postal_index.get(code_postal.strip(), ()))

    # ----- codes -----------------------------------------------------------------------

    def resolve_code(self, code: str | int | None) -> Resolution:
        """A COM code gives itself; a COMD/COMA/ARM code its parent COM (via « code_delegue »).

        A code typed as a number that lost its leading zero (« 1001 ») is read as « 01001 »
        with ``code_corrected``. An unknown code gets suggestions: the communes whose postal
        code it is (a frequent mix-up), else codes of the same département one keystroke away.
        """
        text, corrected = normalize_code(code)
        if text in self._index:
            commune = self.commune(text)
            return Resolution("ok", commune, (commune,), via="code", code_corrected=corrected)
        parent = self._parent_of.get(text)
        if parent is not None and parent in self._index:
            commune = self.commune(parent)
            return Resolution("ok", commune, (commune,), via="code_delegue", code_corrected=corrected)
        return Resolution("inconnu", suggestions=self._code_suggestions(text), code_corrected=corrected)

    def _code_suggestions(self, text: str) -> tuple[tuple[str, str], ...]:
        if not text:
            return ()
        by_postal = self._postal_index.get(text)
        if by_postal:
            return tuple((self._libelle(c), c) for c in by_postal[:MAX_SUGGESTIONS])
        if re.fullmatch(r"20\d{3}", text):  # Corsica before 1976: 20xxx is now 2Axxx or 2Bxxx
            found = [c for c in (f"2A{text[2:]}", f"2B{text[2:]}") if c in self._index]
            return tuple((self._libelle(c), c) for c in found)
        if not _CODE_PATTERN.match(text):
            return ()
        from rapidfuzz.distance import Levenshtein

        dep = text[:3] if text.startswith("97") else text[:2]
        near = sorted(
            self._fuzzy_codes[i] for i in self._fuzzy_by_dep.get(dep, ())
            if Levenshtein.distance(self._fuzzy_codes[i], text, score_cutoff=1) <= 1
        )
        return tuple((self._libelle(c), c) for c in near[:MAX_SUGGESTIONS])

    # ----- names -----------------------------------------------------------------------

    def resolve_name(self, name: str | None, *, departements: Collection[str] | None = None,
                     code_postal: str | None = None) -> Resolution:
        """Exact match after folding, among COM names then names of communes déléguées/associées.

        Several candidates are narrowed by ``departements``, then by ``code_postal``, then
        by the name as written with its article (« Vergne » is Vergné, not La Vergne), then
        by preferring a current commune to a former one; whatever remains several is
        « ambigu ». No exact match is « inconnu » with the nearest names as suggestions,
        never an automatic choice.
        """
        key = fold_name(name or "")
        if not key:
            return Resolution("inconnu")
        direct = self._homonyms.get(key) or ((self._unique_key[key],) if key in self._unique_key else ())
        delegated = self._delegate_by_key.get(key, ())
        found = list(dict.fromkeys([*direct, *(parent for parent, _, _ in delegated)]))
        if not found:
            return Resolution("inconnu", suggestions=self.suggest_names(name or "", departements=departements))
        pool = found
        if len(pool) > 1 and departements:
            pool = [c for c in pool if self._departement(c) in departements] or pool
        if len(pool) > 1 and code_postal:
            cp = code_postal.strip()
            pool = [c for c in pool if c in self._postal_index.get(cp, ())] or pool
        if len(pool) > 1:  # « VERGNE »: Vergné rather than La Vergne
            written = fold_name(name or "", keep_article=True)
            pool = [c for c in pool if written in self._written_keys(c, direct, delegated)] or pool
        if len(pool) > 1:  # a current commune rather than a former one of the same name
            pool = [c for c in pool if c in direct] or pool
        everyone = tuple(self.commune(c) for c in sorted(found))
        if len(pool) > 1:
            return Resolution("ambigu", candidates=tuple(self.commune(c) for c in sorted(pool)))
        chosen = self.commune(pool[0])
        if chosen.code_insee in direct:
            via, spellings = "nom", [(chosen.libelle, chosen.nom)]
        else:
            via = "nom_delegue"
            spellings = [(libelle, nom) for parent, libelle, nom in delegated if parent == chosen.code_insee]
        differs = not any(same_spelling(name or "", libelle, nom) for libelle, nom in spellings)
        return Resolution("ok", chosen, everyone, via=via, spelling_differs=differs)

    def _written_keys(self, code: str, direct: tuple[str, ...], delegated: tuple[tuple[str, str, str], ...]
                      ) -> set[str]:
        keys = {fold_name(libelle, keep_article=True) for parent, libelle, _ in delegated if parent == code}
        if code in direct:
            keys.add(fold_name(self._libelle(code), keep_article=True))
        return keys

    def suggest_names(self, text: str, *, departements: Collection[str] | None = None
                      ) -> tuple[tuple[str, str], ...]:
        """The nearest COM names (libelle, code_insee), best first: within ``departements`` if any match."""
        from rapidfuzz import fuzz, process

        key = fold_name(text)
        if not key:
            return ()
        scopes: list[list[int] | None] = []
        if departements:
            scopes.append([i for d in sorted(departements) for i in self._fuzzy_by_dep.get(d, ())])
        scopes.append(None)
        for scope in scopes:
            if scope is None:
                hits = [(score, i) for _, score, i in process.extract(
                    key, self._fuzzy_keys, scorer=fuzz.ratio, limit=20, score_cutoff=SUGGESTION_CUTOFF)]
            else:
                hits = [(score, scope[j]) for _, score, j in process.extract(
                    key, [self._fuzzy_keys[i] for i in scope], scorer=fuzz.ratio, limit=20,
                    score_cutoff=SUGGESTION_CUTOFF)]
            if hits:
                best = max(score for score, _ in hits)
                kept = sorted((-score, self._fuzzy_codes[i]) for score, i in hits if score >= best - SUGGESTION_MARGIN)
                return tuple((self._libelle(code), code) for _, code in kept[:MAX_SUGGESTIONS])
        return ()


@cache
def load_register(path: Path = REGISTER_PATH) -> Register:
    """The register shipped in the package, read once per process."""
    return Register(pl.read_parquet(path))


def normalize_code(code: str | int | None) -> tuple[str, bool]:
    """(the code as the register writes it, whether a lost leading zero or a « .0 » was repaired)."""
    if code is None:
        return "", False
    text = _SPACES.sub("", str(code)).upper()
    corrected = False
    if text.endswith(".0"):  # a number read from a spreadsheet: 59350.0
        text, corrected = text[:-2], True
    if re.fullmatch(r"\d{4}", text):
        text, corrected = "0" + text, True
    return text, corrected


def uai_prefix(departement: str) -> str:
    """The first 3 characters of the UAI of a school in ``departement`` (« 59 » → « 059 »).

    Corsica is numbered 620 (2A) and 720 (2B) in the UAI, overseas départements by their
    own 3 digits (« 971 »).
    """
    if departement == "2A":
        return "620"
    if departement == "2B":
        return "720"
    return departement.rjust(3, "0")


def departement_of_uai(uai: str) -> str | None:
    """The département of a school from its UAI's first 3 characters: the inverse of ``uai_prefix``."""
    if len(uai) < 3 or not uai[:3].isdigit():
        return None
    prefix = uai[:3]
    if prefix in ("620", "720"):
        return "2A" if prefix == "620" else "2B"
    return prefix if prefix.startswith("97") else prefix.lstrip("0").rjust(2, "0")


def same_spelling(typed: str, *official: str) -> bool:
    """``typed`` is one of the ``official`` spellings but for what never deserves a warning (see ``_loose``)."""
    loose = _loose(typed)
    return any(loose == _loose(name) for name in official)


def _loose(text: str) -> str:
    """A spelling up to case, surrounding spaces, the apostrophe glyph and the article written after the name
    (no warning for those)."""
    return _SPACES.sub(" ", article_first(text.strip()).replace("’", "'").replace("‘", "'")).strip().casefold()


def suggestion_text(resolution: Resolution) -> str | None:
    """« Vouliez-vous dire « Sailly-lez-Lannoy » (59522) ? », or None when nothing to suggest."""
    if resolution.status == "inconnu":
        items = list(resolution.suggestions)
    elif resolution.status == "ambigu":
        items = [(c.libelle, c.code_insee) for c in resolution.candidates]
    else:
        return None
    if not items:
        return None
    shown = [f"« {libelle} » ({code})" for libelle, code in items]
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} ou {shown[-1]}"
    return f"Vouliez-vous dire {listed} ?"


# ----- names on documents -------------------------------------------------------------

_VOWELS = frozenset("AEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜŒÆ")


def debtor_name(commune: Commune) -> str:
    """« Commune de Lille », « Commune du Maisnil », « Commune des Rues-des-Vignes », « Commune d'Armentières ».

    The INSEE article code (tncc) says how French joins « de » to the name: Le → du,
    Les → des, L'/La/Las/Los keep « de », a name starting with a vowel sound (tncc 1,
    h muet included) elides to « d' ». « Aux Marais » (tncc 6) gives « Commune d'Aux
    Marais »: INSEE's joining word « des » would lose the name the Treasury knows.
    """
    libelle, nom, tncc = commune.libelle, commune.nom, commune.tncc
    if tncc == 2 and libelle.startswith("Le "):
        return f"Commune du {nom}"
    if tncc == 4 and libelle.startswith("Les "):
        return f"Commune des {nom}"
    if tncc in (1, 6) or (tncc not in (0, 3, 5, 7, 8) and libelle[:1].upper() in _VOWELS):
        return f"Commune d'{libelle}"
    return f"Commune de {libelle}"


def debtor_name_expr() -> pl.Expr:
    """``debtor_name`` over the register frame's columns (libelle, nom, tncc)."""
    libelle, nom, tncc = pl.col("libelle"), pl.col("nom"), pl.col("tncc")
    vowel = libelle.str.slice(0, 1).str.to_uppercase().is_in(sorted(_VOWELS))
    return (
        pl.when((tncc == 2) & libelle.str.starts_with("Le ")).then(pl.lit("Commune du ") + nom)
        .when((tncc == 4) & libelle.str.starts_with("Les ")).then(pl.lit("Commune des ") + nom)
        .when(tncc.is_in([1, 6]) | (~tncc.is_in([0, 3, 5, 7, 8]) & vowel)).then(pl.lit("Commune d'") + libelle)
        .otherwise(pl.lit("Commune de ") + libelle)
    )


from billing.core.text import SLUG_MAX, slug  # noqa: E402,F401  (one rule for file-name pieces, in the core)
