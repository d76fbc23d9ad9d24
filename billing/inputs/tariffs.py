"""tarifs.toml, one table per exercice, and the ``simulate --set`` overrides: one validation path.

``_build_tariff`` turns one year's table into a ``Tariff``; the overrides are applied to
the tariff's own table (``tariff_source``) and go through it again.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from billing.core import problems as P
from billing.core.model import (BAND_MODES, DEFAULT_SEUIL_CENTS, GROUP_KEYS, PRORATA_MODES, TARIFF_MODES, Competence,
                                 GroupOverride, Tariff)
from billing.core.money import cents_to_str, format_euros, rate_units_to_decimal
from billing.core.problems import Problem
from billing.inputs.tomlfile import _Fields, _Invalid, _Report, _did_you_mean, _fold, _fraction_text, _load
from billing.inputs.values import (
    FIRST_YEAR,
    LAST_YEAR,
    _amount,
    _bands,
    _choice,
    _days,
    _imputation,
    _issue_date,
    _positive_amount,
    _price,
    _strates,
    _text,
    _weights,
    _year,
)


BAREME_KEYS = ("part_fixe", "part_ecole", "part_eleve", "tranches_eleve", "tranches", "part_classe", "part_habitant",
               "strates", "plancher", "plafond", "groupes")
REPARTITION_KEYS = ("montant_total", "poids")
TARIFF_KEYS = ("deliberation", "rentree", "mode", *BAREME_KEYS, "prorata", "echeance_jours", "imputation",
               "date_emission", *REPARTITION_KEYS, "seuil_recouvrement", "competences")
# DESIGN §4c: a year that names competences keeps only these keys (the defaults of its competences and
# the year's own seuil); each competence takes every key of §4/§4b but the seuil.
CARTE_YEAR_KEYS = ("deliberation", "rentree", "prorata", "echeance_jours", "imputation", "date_emission",
                   "seuil_recouvrement", "competences")
INHERITED_KEYS = ("deliberation", "rentree", "prorata", "echeance_jours", "date_emission", "imputation")
COMPETENCE_KEYS = ("libelle", "pour_tous", "mode", *BAREME_KEYS, *REPARTITION_KEYS, "rentree", "prorata",
                   "echeance_jours", "imputation")
OVERRIDE_KEYS = ("part_fixe", "part_ecole", "part_eleve", "plancher", "plafond", "prorata", "tranches",
                 "tranches_eleve", "mode", "montant_total", "poids", "rentree", "echeance_jours", "part_classe",
                 "part_habitant", "strates", "seuil_recouvrement")


class Tariffs(dict):
    """{exercice: Tariff} as read, remembering the years whose section was refused (``rejected``) and
    whether the file could be read at all, so that asking for such a year adds no second,
    misleading « aucun tarif » error to the ones already reported."""

    def __init__(self, tariffs: Mapping[int, Tariff] | Iterable = (), *, rejected: Iterable[int] = (),
                 unreadable: bool = False):
        super().__init__(tariffs)
        self.rejected = frozenset(rejected)
        self.unreadable = unreadable


def _build_tariff(annee: int, data: Mapping[str, Any], report: _Report, where: tuple[str, ...]) -> Tariff | None:
    """One year's table -> Tariff (None if it holds an error). The one validation path of file and --set."""
    errors_before = report.error_count()
    fields = _Fields(report, data, where)
    if "competences" in data:
        return _build_carte(annee, data, report, where)
    fields.unknown_keys(TARIFF_KEYS, fatal=True)
    deliberation = fields.get("deliberation", _text, missing=(
        "la référence de la délibération du comité qui fixe ce tarif",
        'deliberation = "2023-05 du 13 décembre 2023"'))
    rentree = fields.get("rentree", _year, missing=(
        "l'année de la rentrée dont les effectifs sont facturés", f"rentree = {annee - 1}"))
    if rentree is not None and rentree != annee - 1:
        report.warning(fields.path("rentree"),
                       f"la rentrée {rentree} n'est pas celle qui précède l'exercice {annee} (habituellement "
                       f"{annee - 1}) : les effectifs de l'année scolaire {rentree}-{rentree + 1} seront facturés",
                       value=rentree)
    mode = fields.get("mode", lambda v: _choice(v, TARIFF_MODES, "mode"), default="bareme")
    prorata = fields.get("prorata", lambda v: _choice(v, PRORATA_MODES, "prorata"), default="jours")
    echeance = fields.get("echeance_jours", _days, default=30)
    imputation = fields.get("imputation", _imputation)
    date_emission = _emission_date(fields, annee)
    seuil = fields.get("seuil_recouvrement", _amount, default=DEFAULT_SEUIL_CENTS)
    if mode == "repartition":
        values = _repartition_values(fields)
    elif mode == "bareme":
        values = _bareme_values(fields, nothing_wrong_yet=lambda: report.error_count() == errors_before)
    else:
        values = {}
    if report.error_count() > errors_before:
        return None
    lines = tuple((key, line) for key in data if (line := report.locator.line((*where, key))) is not None)
    return Tariff(annee=annee, deliberation=deliberation, rentree=rentree, mode=mode, prorata=prorata,
                  echeance_jours=echeance, imputation=imputation, date_emission=date_emission, seuil_cents=seuil,
                  key_lines=lines, **values)


def _build_carte(annee: int, data: Mapping[str, Any], report: _Report, where: tuple[str, ...]) -> Tariff | None:
    """A year « à la carte » (DESIGN §4c): the year's own keys, then each competence built like a year of its
    own (the year's rentree, prorata, echeance_jours as defaults), its problems located in its table."""
    errors_before = report.error_count()
    fields = _Fields(report, data, where)
    fields.unknown_keys(CARTE_YEAR_KEYS, fatal=True)
    table = data["competences"]
    if not isinstance(table, dict) or not table or not all(isinstance(v, dict) for v in table.values()):
        report.error(fields.path("competences"), "une table par compétence est attendue : "
                                                 "[ANNÉE.competences.NOM] suivie de son libellé et de ses prix")
        return None
    year = {key: data[key] for key in CARTE_YEAR_KEYS if key in data and key != "competences"}
    base = _build_tariff(annee, year | {"mode": "bareme", "part_fixe": "1.00"}, report, where)
    competences = []
    for name, own in table.items():
        competence = _build_competence(annee, name, own, data, report, (*where, "competences", name))
        if competence is not None:
            competences.append(competence)
    if report.error_count() > errors_before or base is None:
        return None
    return replace(base, part_fixe_cents=0, competences=tuple(competences))


def _build_competence(annee: int, name: str, own: Mapping[str, Any], year: Mapping[str, Any], report: _Report,
                      where: tuple[str, ...]) -> Competence | None:
    fields = _Fields(report, own, where)
    if "seuil_recouvrement" in own:
        report.error(fields.path("seuil_recouvrement"), "le seuil de recouvrement s'applique au titre de chaque "
                                                        "débiteur, toutes compétences confondues : c'est une clé de "
                                                        "l'année", suggestion=f"Placez-la sous [{annee}].")
    fields.unknown_keys((*COMPETENCE_KEYS, "seuil_recouvrement"), fatal=True)
    if not re.fullmatch(r"[a-z0-9_]+", name):
        report.error(where, "nom de compétence attendu en minuscules sans espace ni accent (ex. « ent », « sig »), "
                            "tel qu'il figure dans la colonne « competences » d'adhesions.csv", value=name)
    libelle = fields.get("libelle", _text, missing=("le libellé de la compétence, tel que le titre le montre",
                                                    'libelle = "Espace numérique de travail des écoles"'))
    pour_tous = fields.get("pour_tous", _flag, default=False)
    inherited = {key: year[key] for key in INHERITED_KEYS if key in year and key not in own}
    scratch = _Report(report.display, report.locator)
    tariff = _build_tariff(annee, inherited | {k: v for k, v in own.items() if k in COMPETENCE_KEYS
                                               and k not in ("libelle", "pour_tous")}, scratch, where)
    # an inherited key was checked with the year: its problems stay there, once
    report.problems.extend(p for p in scratch.problems
                           if not any(p.column == ".".join((*where, key)) for key in inherited))
    if tariff is None or libelle is None or pour_tous is None:
        return None
    return Competence(name, libelle, tariff, tariff.imputation, bool(pour_tous))


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid("true ou false attendu (sans guillemets)", suggestion="Écrivez : pour_tous = true")


def _emission_date(fields: _Fields, annee: int) -> date | None:
    """date_emission: within the exercice, or in the year after it (a late title, warned); else an error."""
    date_emission = fields.get("date_emission", _issue_date)
    if date_emission is None:
        return None
    raw = fields.data["date_emission"]
    if date_emission < date(annee, 1, 1) or date_emission > date(annee + 1, 12, 31):
        when = "avant le début" if date_emission < date(annee, 1, 1) else "plus d'un an après la fin"
        fields.report.error(fields.path("date_emission"),
                            f"la date d'émission {date_emission:%d/%m/%Y} tombe {when} de l'exercice {annee} "
                            f"(attendu : du 01/01/{annee} au 31/12/{annee + 1} au plus tard)",
                            value=raw, suggestion=f"Vérifiez l'année : par exemple date_emission = {annee}-04-15.")
        return None
    if date_emission.year != annee:
        fields.report.warning(fields.path("date_emission"),
                              f"la date d'émission {date_emission:%d/%m/%Y} est hors de l'exercice {annee}", value=raw)
    return date_emission


def _repartition_values(fields: _Fields) -> dict[str, Any]:
    report, values = fields.report, {}
    for key in BAREME_KEYS:
        if fields.has(key):
            report.warning(fields.path(key), "sans effet en mode « repartition », ignoré")
    values["montant_total_cents"] = fields.get("montant_total", _positive_amount, missing=(
        "le montant total à répartir (mode « repartition »)", 'montant_total = "250000.00"'))
    if fields.has("poids"):
        values["poids"] = _weights(fields.data["poids"], fields.complainer("poids")) or ()
    else:
        report.missing(fields.path("poids"), "les poids des critères (mode « repartition »)",
                       example="poids = {eleves = 0.7, ecoles = 0.2, population = 0.1}")
    return values


def _bareme_values(fields: _Fields, *, nothing_wrong_yet: Callable[[], bool]) -> dict[str, Any]:
    report = fields.report
    for key in REPARTITION_KEYS:
        if fields.has(key):
            report.warning(fields.path(key), "sans effet en mode « bareme », ignoré")
    values = _price_values(fields)
    values["part_fixe_cents"] = values.get("part_fixe_cents", 0)
    values["part_ecole_units"] = values.get("part_ecole_units", 0)
    if "tranches" not in values:
        values["part_eleve_units"] = values.get("part_eleve_units", 0)
    values["tranches_mode"] = fields.get("tranches", lambda v: _choice(v, BAND_MODES, "calcul des tranches"),
                                         default="progressif")
    if fields.has("tranches") and not fields.has("tranches_eleve"):
        report.warning(fields.path("tranches"), "sans effet sans « tranches_eleve », ignoré")
    if fields.has("groupes"):
        values["groupes"] = _groups(fields, values)
    charges = (values["part_fixe_cents"], values["part_ecole_units"], values.get("part_eleve_units") or 0,
               *(band.rate_units for band in values.get("tranches", ())), values.get("plancher_cents") or 0,
               values.get("part_classe_units", 0), values.get("part_habitant_units", 0),
               *(strate.montant_cents for strate in values.get("strates", ())))
    if not any(charges) and not fields.has("groupes") and nothing_wrong_yet():
        report.warning(fields.where, "ce tarif ne facture rien : part fixe, part par école, part par élève et "
                                     "plancher sont nuls ou absents")
    return values


# tarifs.toml key -> (Tariff field, converter) of the price keys a year or a group sets
_PRICE_FIELDS = {"part_fixe": ("part_fixe_cents", _amount), "part_ecole": ("part_ecole_units", _price),
                 "part_eleve": ("part_eleve_units", _price), "part_classe": ("part_classe_units", _price),
                 "part_habitant": ("part_habitant_units", _price), "plancher": ("plancher_cents", _amount)}


def _price_values(fields: _Fields, inherited: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The price keys present in a year's table or a group override, as Tariff fields (absent keys absent).

    ``inherited``: the year's values, against which a group's plancher and plafond are checked."""
    report, values = fields.report, {}
    for key, (name, convert) in _PRICE_FIELDS.items():
        if fields.has(key) and not (key == "part_eleve" and fields.has("tranches_eleve")):
            value = fields.get(key, convert)
            if value is not None:
                values[name] = value
    if fields.has("part_eleve") and fields.has("tranches_eleve"):
        report.error(fields.path("tranches_eleve"),
                     "« part_eleve » et « tranches_eleve » s'excluent : gardez l'un des deux")
    elif fields.has("tranches_eleve"):
        values["tranches"] = _bands(fields.data["tranches_eleve"], fields.complainer("tranches_eleve")) or ()
        values["part_eleve_units"] = None
    if fields.has("strates"):
        values["strates"] = _strates(fields.data["strates"], fields.complainer("strates")) or ()
    if fields.has("plafond"):
        plafond = fields.get("plafond", _ceiling)
        if plafond is not None:
            values["plafond_cents"] = plafond
    plancher = values.get("plancher_cents", (inherited or {}).get("plancher_cents"))
    plafond = values.get("plafond_cents", (inherited or {}).get("plafond_cents"))
    if plancher is not None and plafond is not None and plancher > plafond:
        key = "plancher" if fields.has("plancher") else "plafond"
        report.error(fields.path(key),
                     f"le plancher ({format_euros(plancher)}) dépasse le plafond ({format_euros(plafond)})",
                     value=fields.data[key],
                     suggestion="Le plafond doit être au moins égal au plancher : vérifiez les deux montants dans la "
                                "délibération.")
    return values


def _groups(fields: _Fields, year_values: Mapping[str, Any]) -> tuple[GroupOverride, ...]:
    """[YEAR.groupes.NAME] tables: each validated like the year's own price keys (unknown keys are errors)."""
    report, table = fields.report, fields.data["groupes"]
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        report.error(fields.path("groupes"), "une table par groupe est attendue : [ANNÉE.groupes.\"nom du groupe\"] "
                                             "suivie des prix qui changent pour ce groupe")
        return ()
    groups = []
    for name, data in table.items():
        where = (*fields.path("groupes"), name)
        group_fields = _Fields(report, data, where)
        group_fields.unknown_keys(GROUP_KEYS, fatal=True)
        if not data:
            report.error(where, f"le groupe « {name} » ne change aucun prix : indiquez au moins une clé parmi "
                                f"{', '.join(GROUP_KEYS)}")
            continue
        values = _price_values(group_fields, inherited=year_values)
        ordered = tuple(sorted(values.items()))
        groups.append(GroupOverride(" ".join(name.split()), ordered, tuple(k for k in data if k in GROUP_KEYS),
                                    report.locator.line(where)))
    return tuple(groups)


def _ceiling(value: Any) -> int:
    """A plafond of zero would cap every contribution at nothing: refused (« aucun » or no key: no plafond)."""
    try:
        return _positive_amount(value)
    except _Invalid as exc:
        if exc.message.startswith("le montant doit être supérieur à zéro"):
            raise _Invalid("un plafond de 0,00 € annulerait toutes les contributions : un montant supérieur à zéro "
                           "est attendu", suggestion="Pour n'avoir aucun plafond, supprimez la clé « plafond ».") from None
        raise


def read_tariffs(path: Path, *, display: str) -> tuple[Tariffs, list[Problem]]:
    """tarifs.toml -> {exercice: Tariff}; each table [2024] is one committee deliberation.

    A year whose table holds an error is left out (and listed in ``rejected``)."""
    data, report = _load(path, display)
    if data is None:
        return Tariffs(unreadable=True), report.problems
    found: dict[int, Tariff] = {}
    rejected: set[int] = set()
    for key, table in data.items():
        if not re.fullmatch(r"\d{4}", key) or not FIRST_YEAR <= int(key) <= LAST_YEAR:
            if key in TARIFF_KEYS and not isinstance(table, dict):
                report.error((key,), "clé hors de toute section : placez-la sous la section de son exercice, "
                                     "ex. [2024]")
            else:
                report.error((key,), f"« {key} » n'est pas un exercice : une section de tarif porte le nom de "
                                     "l'exercice sur 4 chiffres, ex. [2024]")
            continue
        if not isinstance(table, dict):
            report.error((key,), f"une section [{key}] est attendue")
            rejected.add(int(key))
            continue
        tariff = _build_tariff(int(key), table, report, (key,))
        if tariff is None:
            rejected.add(int(key))
        else:
            found[int(key)] = tariff
    return Tariffs(found, rejected=rejected), report.problems


def tariff_for_year(tariffs: Mapping[int, Tariff], annee: int, *, display: str) -> tuple[Tariff | None, list[Problem]]:
    """The tariff of ``annee``; an error naming the years present when there is none."""
    if annee in tariffs:
        return tariffs[annee], []
    if getattr(tariffs, "unreadable", False) or annee in getattr(tariffs, "rejected", ()):
        return None, []  # its errors are already reported
    years = sorted({*tariffs, *getattr(tariffs, "rejected", ())})
    present = f"années présentes : {', '.join(map(str, years))}" if years else "aucune année présente"
    return None, [P.error(display, None, None, f"aucun tarif pour {annee} dans {display} ({present})",
                          suggestion=f"Ajoutez une section [{annee}] reprenant la délibération du comité qui fixe "
                                     f"le tarif {annee}.")]


def _split_list(text: str) -> list[str]:
    """« a:1,b:2 » or, when decimals are typed with commas, « a:1,5;b:2 »."""
    return [part for part in text.split(";" if ";" in text else ",")]


def _override_value(key: str, text: str) -> Any:
    """The tarifs.toml value that ``--set key=text`` stands for (None: remove the key)."""
    text = text.strip()
    if key in ("plancher", "plafond") and _fold(text) == "aucun":
        return None
    if key in ("tranches_eleve", "strates"):
        name, example = ("prix", "500:1.50,2000:1.20,:1.00") if key == "tranches_eleve" else \
            ("montant", "499:50,1999:120,:300")
        bands = []
        for part in _split_list(text):
            bound, colon, price = part.partition(":")
            if not colon:
                raise _Invalid(f"{'tranches' if key == 'tranches_eleve' else 'strates'} attendues sous la forme "
                               f"« {example} » (jusqu_a:{name}, la dernière sans borne)")
            bands.append(({"jusqu_a": bound.strip()} if bound.strip() else {}) | {name: price.strip()})
        return bands
    if key == "poids":
        weights = {}
        for part in _split_list(text):
            name, colon, weight = part.partition(":")
            if not colon:
                raise _Invalid("poids attendus sous la forme « eleves:0.7,ecoles:0.2,population:0.1 »")
            weights[name.strip()] = weight.strip()
        return weights
    return text


def _price_source(values: Mapping[str, Any]) -> dict[str, Any]:
    """Tariff fields (of a year or a group) back as tarifs.toml keys: money as exact strings."""
    data: dict[str, Any] = {}
    for key, (name, _) in _PRICE_FIELDS.items():
        value = values.get(name)
        if value is None:
            continue
        data[key] = cents_to_str(value) if name.endswith("_cents") else str(rate_units_to_decimal(value))
    if values.get("tranches"):
        data.pop("part_eleve", None)
        data["tranches_eleve"] = [({"jusqu_a": band.jusqu_a} if band.jusqu_a is not None else {})
                                  | {"prix": str(rate_units_to_decimal(band.rate_units))}
                                  for band in values["tranches"]]
    if values.get("strates"):
        data["strates"] = [({"jusqu_a": s.jusqu_a} if s.jusqu_a is not None else {})
                           | {"montant": cents_to_str(s.montant_cents)} for s in values["strates"]]
    if values.get("plafond_cents") is not None:
        data["plafond"] = cents_to_str(values["plafond_cents"])
    return data


def tariff_source(tariff: Tariff) -> dict[str, Any]:
    """The tariff back in the form of its tarifs.toml table: money as exact strings, weights as « 0.7 » or « 1/3 »."""
    data: dict[str, Any] = {"deliberation": tariff.deliberation, "rentree": tariff.rentree, "mode": tariff.mode}
    if tariff.mode == "repartition":
        if tariff.montant_total_cents is not None:
            data["montant_total"] = cents_to_str(tariff.montant_total_cents)
        data["poids"] = {criterion: _fraction_text(weight) for criterion, weight in tariff.poids}
    else:
        data["part_fixe"] = cents_to_str(tariff.part_fixe_cents)
        data["part_ecole"] = str(rate_units_to_decimal(tariff.part_ecole_units))
        if not tariff.tranches:
            data["part_eleve"] = str(rate_units_to_decimal(tariff.part_eleve_units or 0))
        data.update(_price_source({name: getattr(tariff, name) for name, _ in _PRICE_FIELDS.values()}
                                  | {"tranches": tariff.tranches, "strates": tariff.strates,
                                     "plafond_cents": tariff.plafond_cents, "part_fixe_cents": None,
                                     "part_ecole_units": None, "part_eleve_units": None}))
        for key in ("part_classe", "part_habitant"):
            if data.get(key) is not None and not rate_units_to_decimal(getattr(tariff, f"{key}_units")):
                del data[key]  # a key the year does not use stays out of its table
        if tariff.tranches:
            data["tranches"] = tariff.tranches_mode
        if tariff.groupes:
            data["groupes"] = {group.nom: _price_source(dict(group.fields)) for group in tariff.groupes}
    data["prorata"] = tariff.prorata
    data["echeance_jours"] = tariff.echeance_jours
    if tariff.imputation:
        data["imputation"] = tariff.imputation
    if tariff.date_emission:
        data["date_emission"] = tariff.date_emission
    if tariff.seuil_cents != DEFAULT_SEUIL_CENTS:
        data["seuil_recouvrement"] = cents_to_str(tariff.seuil_cents)
    return data


def apply_overrides(tariff: Tariff, settings: Sequence[str], *, source: str = "--set"
                    ) -> tuple[Tariff | None, list[Problem]]:
    """``part_eleve=1.35`` … applied to a tariff and validated exactly like tarifs.toml.

    Setting part_eleve drops the bands and vice versa; « aucun » removes plancher/plafond.
    Warnings are kept only for the keys set here (the file's own were reported with it).
    """
    report = _Report(source)
    data = tariff_source(tariff)
    touched: set[str] = set()
    for setting in settings:
        key, sep, text = setting.partition("=")
        key = key.strip()
        if not sep or not key:
            report.error((), "forme attendue : cle=valeur (ex. --set part_eleve=1.35)", value=setting)
            continue
        if key.startswith("groupes."):
            if _set_group_key(data, report, key, text):
                touched.add(_group_column(key))
            continue
        if key not in OVERRIDE_KEYS:
            report.error((key,), f"paramètre inconnu (modifiables : {', '.join(OVERRIDE_KEYS)})",
                         suggestion=_did_you_mean(key, OVERRIDE_KEYS))
            continue
        if not text.strip():
            report.error((key,), "valeur manquante après « = »")
            continue
        try:
            value = _override_value(key, text)
        except _Invalid as exc:
            report.error((key,), exc.message, value=text.strip())
            continue
        touched.add(key)
        if key == "part_eleve":
            data.pop("tranches_eleve", None)
            data.pop("tranches", None)
        elif key == "tranches_eleve":
            data.pop("part_eleve", None)
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    checked = _Report(source)
    result = _build_tariff(tariff.annee, data, checked, ())
    touched |= {column for column in (p.column for p in checked.problems) if column
                and any(column.startswith(t + ".") for t in touched)}
    problems = report.problems + [p for p in checked.problems
                                  if p.is_error or p.column in touched or (p.column is None and touched)]
    return (None if P.errors_of(problems) else result), problems


def _group_path(key: str) -> tuple[str, str] | None:
    """« groupes."second groupe".part_eleve » (or without the quotes) -> ("second groupe", "part_eleve")."""
    match = re.fullmatch(r"groupes\.(?:\"([^\"]+)\"|'([^']+)'|(.+))\.([A-Za-z_]+)", key)
    if not match:
        return None
    return " ".join((match[1] or match[2] or match[3]).split()), match[4]


def _group_column(key: str) -> str:
    name, field_key = _group_path(key)
    return f"groupes.{name}.{field_key}"


def _set_group_key(data: dict[str, Any], report: _Report, key: str, text: str) -> bool:
    """``--set groupes."second groupe".part_eleve=1.05``: one key of a group override (the group is created if new)."""
    path = _group_path(key)
    if path is None:
        report.error((key,), "forme attendue : groupes.\"nom du groupe\".cle=valeur "
                             "(ex. --set groupes.\"second groupe\".part_eleve=1.05)")
        return False
    name, field_key = path
    if field_key not in GROUP_KEYS:
        report.error((key,), f"paramètre de groupe inconnu (modifiables : {', '.join(GROUP_KEYS)})",
                     suggestion=_did_you_mean(field_key, GROUP_KEYS))
        return False
    if not text.strip():
        report.error((key,), "valeur manquante après « = »")
        return False
    try:
        value = _override_value(field_key, text)
    except _Invalid as exc:
        report.error((key,), exc.message, value=text.strip())
        return False
    group = data.setdefault("groupes", {}).setdefault(name, {})
    if field_key == "part_eleve":
        group.pop("tranches_eleve", None)
    elif field_key == "tranches_eleve":
        group.pop("part_eleve", None)
    if value is None:
        group.pop(field_key, None)
    else:
        group[field_key] = value
    return True
