"""The two TOML inputs: the issuer (syndicat.toml) and the committee's tariffs (tarifs.toml).

Numbers are read with ``parse_float=Decimal`` so « 1.4375 » stays exact, then turned
into integer cents / rate units. The same validation serves the file and the
``simulate --set`` overrides: one path, one set of messages.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from billing import problems as P
from billing.identifiers import bic_ok, iban_ok, siret_ok
from billing.model import BAND_MODES, CRITERIA, PRORATA_MODES, TARIFF_MODES, Band, Syndicat, Tariff
from billing.money import (
    MoneyError,
    decimal_to_cents,
    decimal_to_rate_units,
    format_euros,
    format_rate,
    parse_decimal_text,
    rate_units_to_decimal,
    cents_to_str,
)
from billing.problems import Problem

SYNDICAT_KEYS = {"nom", "adresse", "siret", "president", "qualite", "prefixe_titre", "delai_paiement_jours",
                 "tribunal", "imputation"}
COMPTABLE_KEYS = {"nom", "iban", "bic"}
TARIFF_KEYS = {"deliberation", "rentree", "mode", "part_fixe", "part_ecole", "part_eleve", "tranches_eleve",
               "tranches", "plancher", "plafond", "prorata", "echeance_jours", "imputation", "date_emission",
               "montant_total", "poids"}
OVERRIDE_KEYS = ("part_fixe", "part_ecole", "part_eleve", "plancher", "plafond", "prorata", "tranches",
                 "tranches_eleve", "mode", "montant_total", "poids", "rentree", "echeance_jours")


class _Reporter:
    """Collects problems for one file, locating a key on its line when it can."""

    def __init__(self, display: str, text: str = ""):
        self.display = display
        self.lines = text.splitlines()
        self.problems: list[Problem] = []

    def line_of(self, key: str, table: str | None = None) -> int | None:
        in_table = table is None
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            if stripped.startswith("["):
                in_table = table is None or stripped.strip("[]").strip().strip('"') == table
                continue
            if in_table and re.match(rf"{re.escape(key)}\s*=", stripped):
                return number
        return None

    def error(self, key: str | None, message: str, *, table: str | None = None, value=None, suggestion=None):
        row = self.line_of(key.split(".")[-1], table) if key else None
        column = f"{table}.{key}" if table and key else key
        self.problems.append(P.error(self.display, row, column, message,
                                     value=None if value is None else str(value), suggestion=suggestion))

    def warning(self, key: str | None, message: str, *, table: str | None = None, value=None, suggestion=None):
        row = self.line_of(key.split(".")[-1], table) if key else None
        column = f"{table}.{key}" if table and key else key
        self.problems.append(P.warning(self.display, row, column, message,
                                       value=None if value is None else str(value), suggestion=suggestion))


def _load(path: Path, display: str) -> tuple[dict | None, _Reporter]:
    if not path.is_file():
        reporter = _Reporter(display)
        reporter.error(None, "fichier introuvable")
        return None, reporter
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        reporter = _Reporter(display)
        reporter.error(None, "le fichier n'est pas en UTF-8", suggestion="Enregistrez-le en UTF-8.")
        return None, reporter
    reporter = _Reporter(display, text)
    try:
        return tomllib.loads(text, parse_float=Decimal), reporter
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"line (\d+)", message)
        row = int(match.group(1)) if match else None
        reporter.problems.append(P.error(display, row, None,
                                         f"syntaxe TOML invalide ({message})",
                                         suggestion="Vérifiez les guillemets autour des textes et le signe « = »."))
        return None, reporter


def _unknown_keys(reporter: _Reporter, data: dict, known: set[str], table: str) -> None:
    for key in data:
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1)
            reporter.warning(key, "clé inconnue, ignorée", table=table,
                             suggestion=f"Vouliez-vous dire « {near[0]} » ?" if near else None)


def _text(reporter, data, key, table, *, required=False, default=None):
    value = data.get(key)
    if value is None:
        if required:
            reporter.error(key, "valeur obligatoire absente", table=table)
        return default
    if not isinstance(value, str) or not value.strip():
        reporter.error(key, "un texte entre guillemets est attendu", table=table, value=value)
        return default
    return value.strip()


def _int(reporter, data, key, table, *, default=None, low=None, high=None, required=False):
    value = data.get(key)
    if value is None:
        if required:
            reporter.error(key, "valeur obligatoire absente", table=table)
        return default
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        reporter.error(key, "un nombre entier est attendu", table=table, value=value)
        return default
    if (low is not None and value < low) or (high is not None and value > high):
        reporter.error(key, f"valeur attendue entre {low} et {high}", table=table, value=value)
        return default
    return value


def read_syndicat(path: Path, *, display: str) -> tuple[Syndicat | None, list[Problem]]:
    """syndicat.toml -> Syndicat (unknown keys are warnings)."""
    data, reporter = _load(path, display)
    if data is None:
        return None, reporter.problems
    for table in data:
        if table not in ("syndicat", "comptable"):
            reporter.warning(table, "section inconnue, ignorée (attendu : [syndicat] et [comptable])")
    synd = data.get("syndicat")
    if not isinstance(synd, dict):
        reporter.error(None, "section [syndicat] absente")
        return None, reporter.problems
    compt = data.get("comptable") if isinstance(data.get("comptable"), dict) else {}
    if "comptable" not in data:
        reporter.error(None, "section [comptable] absente (nom, iban, bic du comptable public)")
    _unknown_keys(reporter, synd, SYNDICAT_KEYS, "syndicat")
    _unknown_keys(reporter, compt, COMPTABLE_KEYS, "comptable")
    nom = _text(reporter, synd, "nom", "syndicat", required=True)
    adresse = _text(reporter, synd, "adresse", "syndicat", required=True)
    siret = _text(reporter, synd, "siret", "syndicat", required=True)
    if siret and not siret_ok(siret):
        reporter.error("siret", "SIRET invalide : 14 chiffres dont une clé de contrôle (Luhn)", table="syndicat",
                       value=siret)
    president = _text(reporter, synd, "president", "syndicat", required=True)
    qualite = _text(reporter, synd, "qualite", "syndicat", default="Président")
    prefixe = _text(reporter, synd, "prefixe_titre", "syndicat", default="ENT")
    if prefixe and not re.fullmatch(r"[A-Za-z0-9]{1,10}", prefixe):
        reporter.error("prefixe_titre", "lettres et chiffres seulement, 10 au plus", table="syndicat", value=prefixe)
    delai = _int(reporter, synd, "delai_paiement_jours", "syndicat", default=30, low=1, high=365)
    tribunal = _text(reporter, synd, "tribunal", "syndicat", default="Tribunal administratif de Lille")
    imputation = _imputation(reporter, synd, "syndicat")
    compt_nom = _text(reporter, compt, "nom", "comptable", required="comptable" in data, default="")
    iban = _text(reporter, compt, "iban", "comptable", required="comptable" in data, default="")
    if iban and not iban_ok(iban):
        reporter.error("iban", "IBAN invalide (clé de contrôle ISO 13616 fausse)", table="comptable", value=iban)
    bic = _text(reporter, compt, "bic", "comptable", required="comptable" in data, default="")
    if bic and not bic_ok(bic):
        reporter.error("bic", "BIC invalide : 8 ou 11 caractères (ex. BDFEFRPPCCT)", table="comptable", value=bic)
    if P.errors_of(reporter.problems):
        return None, reporter.problems
    return Syndicat(nom=nom, adresse=adresse, siret=re.sub(r"\s", "", siret), president=president, qualite=qualite,
                    prefixe_titre=prefixe, delai_paiement_jours=delai, tribunal=tribunal, imputation=imputation,
                    comptable_nom=compt_nom, iban=re.sub(r"\s", "", iban).upper(), bic=bic.upper()), reporter.problems


def _imputation(reporter, data, table):
    value = data.get("imputation")
    if value is None:
        return None
    text = str(value).strip()
    if not re.fullmatch(r"\d{2,8}", text):
        reporter.error("imputation", "un compte M57 s'écrit en chiffres (ex. 7474)", table=table, value=value)
        return None
    return text


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise MoneyError(f"« {value} » n'est pas un nombre")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return parse_decimal_text(value)
    raise MoneyError(f"« {value} » n'est pas un nombre")


def _amount(reporter, data, key, table, *, positive=False) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        number = _decimal(value)
        if number < 0:
            raise MoneyError("un montant ne peut pas être négatif")
        if positive and number == 0:
            raise MoneyError("le montant doit être supérieur à zéro")
        return decimal_to_cents(number)
    except MoneyError as exc:
        reporter.error(key, str(exc), table=table, value=value)
        return None


def _rate(reporter, value, key, table) -> int | None:
    try:
        number = _decimal(value)
        if number < 0:
            raise MoneyError("un prix ne peut pas être négatif")
        return decimal_to_rate_units(number)
    except MoneyError as exc:
        reporter.error(key, str(exc), table=table, value=value)
        return None


def _bands(reporter, value, table) -> tuple[Band, ...] | None:
    key = "tranches_eleve"
    if not isinstance(value, list) or not value:
        reporter.error(key, "une liste de tranches est attendue : [{jusqu_a = 500, prix = \"1.50\"}, …, {prix = \"1.00\"}]",
                       table=table)
        return None
    bands: list[Band] = []
    previous = 0
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict) or "prix" not in item:
            reporter.error(key, f"tranche {index} : il faut au moins « prix »", table=table)
            return None
        unknown = set(item) - {"jusqu_a", "prix"}
        if unknown:
            reporter.error(key, f"tranche {index} : clé inconnue {', '.join(sorted(unknown))} (attendu : jusqu_a, prix)",
                           table=table)
        rate = _rate(reporter, item["prix"], key, table)
        bound = item.get("jusqu_a")
        last = index == len(value)
        if bound is None and not last:
            reporter.error(key, f"tranche {index} : seule la dernière tranche peut être sans « jusqu_a »", table=table)
            return None
        if bound is not None:
            if isinstance(bound, bool) or not isinstance(bound, int) or bound <= previous:
                reporter.error(key, f"tranche {index} : « jusqu_a » doit être un entier croissant (> {previous})",
                               table=table, value=bound)
                return None
            previous = bound
        if rate is None:
            return None
        bands.append(Band(bound, rate))
    if bands[-1].jusqu_a is not None:
        reporter.error(key, "la dernière tranche ne doit pas avoir de « jusqu_a » (elle couvre tous les élèves au-delà)",
                       table=table)
        return None
    return tuple(bands)


def _weights(reporter, value, table) -> tuple[tuple[str, Fraction], ...] | None:
    if not isinstance(value, dict) or not value:
        reporter.error("poids", "une table de poids est attendue : {eleves = 0.7, ecoles = 0.2, population = 0.1}",
                       table=table)
        return None
    weights = []
    for criterion, raw in value.items():
        if criterion not in CRITERIA:
            near = difflib.get_close_matches(criterion, CRITERIA, n=1)
            reporter.error("poids", f"critère inconnu « {criterion} » (attendu : {', '.join(CRITERIA)})", table=table,
                           suggestion=f"Vouliez-vous dire « {near[0]} » ?" if near else None)
            return None
        try:
            weight = _decimal(raw)
        except MoneyError as exc:
            reporter.error("poids", str(exc), table=table, value=raw)
            return None
        if weight < 0:
            reporter.error("poids", f"le poids de « {criterion} » ne peut pas être négatif", table=table, value=raw)
            return None
        weights.append((criterion, Fraction(weight)))
    total = sum(w for _, w in weights)
    if total != 1:
        reporter.error("poids", f"la somme des poids doit valoir exactement 1 (elle vaut {float(total):g})",
                       table=table)
        return None
    return tuple(sorted(weights))


def _tariff(reporter: _Reporter, annee: int, data: dict, table: str) -> Tariff | None:
    before = len(P.errors_of(reporter.problems))
    _unknown_keys(reporter, data, TARIFF_KEYS, table)
    deliberation = _text(reporter, data, "deliberation", table, required=True)
    rentree = _int(reporter, data, "rentree", table, required=True, low=1990, high=2100)
    if rentree is not None and rentree != annee - 1:
        reporter.warning("rentree", f"la rentrée {rentree} n'est pas celle qui précède l'exercice {annee} "
                                    f"(habituellement {annee - 1})", table=table, value=rentree)
    mode = _text(reporter, data, "mode", table, default="bareme")
    if mode not in TARIFF_MODES:
        reporter.error("mode", "mode attendu : « bareme » ou « repartition »", table=table, value=mode)
    prorata = _text(reporter, data, "prorata", table, default="jours")
    if prorata not in PRORATA_MODES:
        reporter.error("prorata", "prorata attendu : « aucun », « mois » ou « jours »", table=table, value=prorata)
    tranches_mode = _text(reporter, data, "tranches", table, default="progressif")
    if tranches_mode not in BAND_MODES:
        reporter.error("tranches", "attendu : « progressif » ou « global »", table=table, value=tranches_mode)
    echeance = _int(reporter, data, "echeance_jours", table, default=30, low=1, high=365)
    imputation = _imputation(reporter, data, table)
    date_emission = data.get("date_emission")
    if date_emission is not None and not isinstance(date_emission, date):
        reporter.error("date_emission", "une date TOML est attendue (ex. date_emission = 2024-04-15)", table=table,
                       value=date_emission)
        date_emission = None
    part_fixe = _amount(reporter, data, "part_fixe", table) or 0
    plancher = _amount(reporter, data, "plancher", table)
    plafond = _amount(reporter, data, "plafond", table)
    if plancher is not None and plafond is not None and plancher > plafond:
        reporter.error("plancher", "le plancher dépasse le plafond", table=table)
    part_ecole = _rate(reporter, data["part_ecole"], "part_ecole", table) if "part_ecole" in data else 0
    part_eleve = None
    tranches: tuple[Band, ...] = ()
    montant_total = None
    poids: tuple = ()
    if mode == "repartition":
        montant_total = _amount(reporter, data, "montant_total", table, positive=True)
        if "montant_total" not in data:
            reporter.error("montant_total", "obligatoire en mode « repartition »", table=table)
        if "poids" not in data:
            reporter.error("poids", "obligatoire en mode « repartition »", table=table)
        else:
            poids = _weights(reporter, data["poids"], table) or ()
        for key in ("part_fixe", "part_ecole", "part_eleve", "tranches_eleve", "plancher", "plafond"):
            if key in data:
                reporter.warning(key, "sans effet en mode « repartition »", table=table)
    else:
        for key in ("montant_total", "poids"):
            if key in data:
                reporter.warning(key, "sans effet en mode « bareme »", table=table)
        if "part_eleve" in data and "tranches_eleve" in data:
            reporter.error("tranches_eleve", "« part_eleve » et « tranches_eleve » s'excluent : gardez l'un des deux",
                           table=table)
        elif "tranches_eleve" in data:
            tranches = _bands(reporter, data["tranches_eleve"], table) or ()
        else:
            part_eleve = _rate(reporter, data["part_eleve"], "part_eleve", table) if "part_eleve" in data else 0
    if len(P.errors_of(reporter.problems)) > before or deliberation is None or rentree is None:
        return None
    return Tariff(annee=annee, deliberation=deliberation, rentree=rentree, mode=mode, part_fixe_cents=part_fixe,
                  part_ecole_units=part_ecole or 0, part_eleve_units=None if tranches else (part_eleve or 0),
                  tranches=tranches, tranches_mode=tranches_mode, plancher_cents=plancher, plafond_cents=plafond,
                  prorata=prorata, echeance_jours=echeance, montant_total_cents=montant_total, poids=poids,
                  imputation=imputation, date_emission=date_emission)


def read_tariffs(path: Path, *, display: str) -> tuple[dict[int, Tariff] | None, list[Problem]]:
    """tarifs.toml -> {year: Tariff}; each table is one committee deliberation."""
    data, reporter = _load(path, display)
    if data is None:
        return None, reporter.problems
    tariffs: dict[int, Tariff] = {}
    for key, table in data.items():
        if not re.fullmatch(r"\d{4}", key) or not 1990 <= int(key) <= 2100:
            reporter.error(key, "une section de tarif porte le nom de l'exercice sur 4 chiffres, ex. [2024]")
            continue
        if not isinstance(table, dict):
            reporter.error(key, "une table [ANNEE] est attendue")
            continue
        tariff = _tariff(reporter, int(key), table, key)
        if tariff is not None:
            tariffs[int(key)] = tariff
    return tariffs, reporter.problems


def tariff_for_year(tariffs: dict[int, Tariff], annee: int, *, display: str) -> tuple[Tariff | None, list[Problem]]:
    if annee in tariffs:
        return tariffs[annee], []
    present = ", ".join(str(y) for y in sorted(tariffs)) or "aucune"
    return None, [P.error(display, None, None, f"aucun tarif pour {annee} (années présentes : {present})",
                          suggestion=f"Ajoutez une section [{annee}] reprenant la délibération qui fixe le tarif.")]


def _override_value(key: str, text: str) -> Any:
    """The TOML value a ``--set key=value`` stands for."""
    if key in ("plancher", "plafond") and text.strip().lower() == "aucun":
        return None
    if key == "tranches_eleve":
        bands = []
        for part in text.split(","):
            bound, _, price = part.partition(":")
            if not _:
                raise ValueError("tranches : « 500:1.50,2000:1.20,:1.00 » (jusqu_a:prix, la dernière sans borne)")
            item = {"prix": price.strip()}
            if bound.strip():
                if not bound.strip().isdigit():
                    raise ValueError(f"borne de tranche « {bound} » : un nombre entier d'élèves est attendu")
                item["jusqu_a"] = int(bound)
            bands.append(item)
        return bands
    if key == "poids":
        weights = {}
        for part in text.split(","):
            name, _, weight = part.partition(":")
            if not _:
                raise ValueError("poids : « eleves:0.7,ecoles:0.2,population:0.1 »")
            weights[name.strip()] = weight.strip()
        return weights
    if key in ("rentree", "echeance_jours"):
        return int(text) if text.strip().isdigit() else text
    return text.strip()


def tariff_source(tariff: Tariff) -> dict:
    """The tariff back in the form of a tarifs.toml table (strings for money, exact)."""
    data: dict[str, Any] = {"deliberation": tariff.deliberation, "rentree": tariff.rentree, "mode": tariff.mode,
                            "prorata": tariff.prorata, "echeance_jours": tariff.echeance_jours,
                            "tranches": tariff.tranches_mode}
    if tariff.imputation:
        data["imputation"] = tariff.imputation
    if tariff.date_emission:
        data["date_emission"] = tariff.date_emission
    if tariff.mode == "repartition":
        data["montant_total"] = cents_to_str(tariff.montant_total_cents or 0)
        data["poids"] = {k: str(Decimal(w.numerator) / Decimal(w.denominator)) for k, w in tariff.poids}
        return data
    data["part_fixe"] = cents_to_str(tariff.part_fixe_cents)
    data["part_ecole"] = str(rate_units_to_decimal(tariff.part_ecole_units))
    if tariff.tranches:
        data["tranches_eleve"] = [
            ({"jusqu_a": b.jusqu_a} if b.jusqu_a is not None else {}) | {"prix": str(rate_units_to_decimal(b.rate_units))}
            for b in tariff.tranches
        ]
    else:
        data["part_eleve"] = str(rate_units_to_decimal(tariff.part_eleve_units or 0))
    if tariff.plancher_cents is not None:
        data["plancher"] = cents_to_str(tariff.plancher_cents)
    if tariff.plafond_cents is not None:
        data["plafond"] = cents_to_str(tariff.plafond_cents)
    return data


def apply_overrides(tariff: Tariff, settings: Sequence[str], *, source: str = "--set"
                    ) -> tuple[Tariff | None, list[Problem]]:
    """``part_eleve=1.35`` … applied to a tariff, validated exactly like the file."""
    reporter = _Reporter(source)
    data = tariff_source(tariff)
    for setting in settings:
        key, sep, text = setting.partition("=")
        key = key.strip()
        if not sep:
            reporter.error(None, "forme attendue : --set cle=valeur (ex. --set part_eleve=1.35)", value=setting)
            continue
        if key not in OVERRIDE_KEYS:
            near = difflib.get_close_matches(key, OVERRIDE_KEYS, n=1)
            reporter.error(key, f"paramètre inconnu (modifiables : {', '.join(OVERRIDE_KEYS)})",
                           suggestion=f"Vouliez-vous dire « {near[0]} » ?" if near else None)
            continue
        try:
            value = _override_value(key, text)
        except ValueError as exc:
            reporter.error(key, str(exc), value=text)
            continue
        if key == "part_eleve":
            data.pop("tranches_eleve", None)
        if key == "tranches_eleve":
            data.pop("part_eleve", None)
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    inner = _Reporter(source)
    result = _tariff(inner, tariff.annee, data, None)
    problems = reporter.problems + [p for p in inner.problems if p.is_error or "rentrée" not in p.message]
    return (None if P.errors_of(problems) else result), problems


def tariff_to_dict(tariff: Tariff) -> dict:
    """JSON-friendly form (money as strings with their decimals)."""
    data = tariff_source(tariff)
    data["annee"] = tariff.annee
    if "date_emission" in data:
        data["date_emission"] = data["date_emission"].isoformat()
    return data


def describe_tariff(tariff: Tariff) -> list[tuple[str, str]]:
    """(French label, display value) pairs for the Paramètres sheet and the notices."""
    rows = [("Exercice", str(tariff.annee)), ("Délibération", tariff.deliberation),
            ("Effectifs de la rentrée", f"{tariff.rentree} (année scolaire {tariff.rentree}-{tariff.rentree + 1})"),
            ("Mode", "barème" if tariff.mode == "bareme" else "répartition d'un montant total")]
    if tariff.mode == "repartition":
        rows.append(("Montant à répartir", format_euros(tariff.montant_total_cents or 0)))
        for criterion, weight in tariff.poids:
            rows.append((f"Poids « {criterion} »", f"{float(weight) * 100:g} %"))
    else:
        rows.append(("Part fixe par commune", format_euros(tariff.part_fixe_cents)))
        rows.append(("Part par école publique", format_rate(tariff.part_ecole_units)))
        if tariff.tranches:
            low = 1
            for index, band in enumerate(tariff.tranches, start=1):
                upper = f"à {band.jusqu_a}" if band.jusqu_a is not None else "et au-delà"
                rows.append((f"Tranche {index} (élèves {low} {upper})", format_rate(band.rate_units)))
                low = (band.jusqu_a or 0) + 1
            rows.append(("Calcul des tranches", tariff.tranches_mode))
        else:
            rows.append(("Part par élève", format_rate(tariff.part_eleve_units or 0)))
        rows.append(("Plancher", format_euros(tariff.plancher_cents) if tariff.plancher_cents is not None else "aucun"))
        rows.append(("Plafond", format_euros(tariff.plafond_cents) if tariff.plafond_cents is not None else "aucun"))
    rows.append(("Prorata temporis", {"aucun": "aucun", "mois": "par mois commencé", "jours": "au jour près"}[tariff.prorata]))
    rows.append(("Échéance", f"{tariff.echeance_jours} jours après l'émission"))
    if tariff.imputation:
        rows.append(("Imputation", f"compte {tariff.imputation}"))
    return rows


def with_rate(tariff: Tariff, parameter: str, units: int) -> Tariff:
    """The same tariff with one unit price (or part_fixe in cents) replaced: used by the rate solver."""
    if parameter == "part_eleve":
        return replace(tariff, part_eleve_units=units, tranches=())
    if parameter == "part_ecole":
        return replace(tariff, part_ecole_units=units)
    if parameter == "part_fixe":
        return replace(tariff, part_fixe_cents=units)
    raise ValueError(parameter)
