"""The values that flow between the stages, and the columns of the frames they pass.

Frames (polars) between stages — the contract every module relies on:

``members`` (validated, resolved member register, one row per commune)
    code_insee: Utf8 (COM code), commune: Utf8 (official name with article, « La Madeleine »),
    statut: Utf8 (adherente | conditionnelle | retiree), date_effet: Date (null only when
    conditionnelle), date_retrait: Date (nullable), deliberation_commune, deliberation_syndicat,
    groupe, siret, delegue: Utf8 (nullable), source_file: Utf8, source_row: Int64.

``school_counts`` (one row per school, all rentrées, after attribution to a commune)
    rentree: Int64, uai: Utf8 (nullable for a commune's own declaration), ecole: Utf8 (nullable),
    code_insee: Utf8 (COM code of the commune the school counts for, null when unattributed),
    secteur: Utf8 (public | prive), eleves: Int64, classes: Int64 (nullable),
    ecoles_declarees: Int64 (only for the per-commune form, else null), source_file, source_row.

``billing_base`` (members ⋈ counts of the tariff's rentrée ⋈ register)
    code_insee, commune, statut, date_effet, date_retrait, siret, groupe,
    ecoles: Int64, eleves: Int64, classes: Int64 (of the public schools counted), population: Int64
    (adhesions.csv's ``population`` when given, else the register's), population_source: Utf8
    (adhesions | referentiel), mode_contribution: Utf8 (titre | fiscalisee), departement: Utf8,
    departement_nom, epci_siren, epci_nom, mairie_adresse: Utf8.

``contributions`` (pricing output, one row per member commune) and ``lines`` (one row per
line of a notice): see ``billing.core.pricing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction

STATUTS = ("adherente", "conditionnelle", "retiree")
STATUT_LABELS = {"adherente": "adhérente", "conditionnelle": "conditionnelle", "retiree": "retirée"}
SITUATIONS = ("facturee", "indicative", "hors_periode")  # what pricing makes of a statut in a year
SITUATION_LABELS = {"facturee": "facturée", "indicative": "indicative (non facturée)", "hors_periode": "hors période"}
PRORATA_MODES = ("aucun", "mois", "jours")
TARIFF_MODES = ("bareme", "repartition")
BAND_MODES = ("progressif", "global")
CRITERIA = ("eleves", "ecoles", "population", "forfait")


@dataclass(frozen=True)
class Syndicat:
    """The issuer (syndicat.toml)."""

    nom: str
    adresse: str
    siret: str
    president: str
    qualite: str = "Président"
    prefixe_titre: str = "ENT"
    delai_paiement_jours: int = 30
    tribunal: str = "Tribunal administratif de Lille"
    imputation: str | None = None
    comptable_nom: str = ""
    iban: str = ""
    bic: str = ""
    notices: tuple[str, ...] = ("xlsx",)  # the notice formats to write: "xlsx", and "pdf" (DESIGN §6b)
    pes: object | None = None             # billing.core.pes_model.PesConfig when syndicat.toml has [pes]

    @property
    def wants_pdf(self) -> bool:
        return "pdf" in self.notices


@dataclass(frozen=True)
class Band:
    """A pupil band: pupils up to ``jusqu_a`` (None: no upper bound) at ``rate_units`` (1/10 000 €)."""

    jusqu_a: int | None
    rate_units: int


@dataclass(frozen=True)
class Strate:
    """A population band (DESIGN §4b): members up to ``jusqu_a`` inhabitants (inclusive; None: no upper
    bound) pay the flat ``montant_cents``."""

    jusqu_a: int | None
    montant_cents: int


# The keys a group override may set (DESIGN §4b), and the Tariff fields each one sets.
GROUP_KEYS = ("part_fixe", "part_ecole", "part_eleve", "tranches_eleve", "part_classe", "part_habitant", "strates",
              "plancher", "plafond")
DEFAULT_SEUIL_CENTS = 1500  # CGCT D1611-1: a local authority does not recover less than 15,00 €
CONTRIBUTION_MODES = ("titre", "fiscalisee")


@dataclass(frozen=True)
class GroupOverride:
    """``[YEAR.groupes.NAME]``: the Tariff fields replaced for the members whose ``groupe`` is ``nom``.

    ``fields`` holds (Tariff field name, value in the Tariff's units); ``keys`` the tarifs.toml keys
    as written (for display); ``ligne`` the line of the table's header, when it could be found."""

    nom: str
    fields: tuple[tuple[str, object], ...]
    keys: tuple[str, ...] = ()
    ligne: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Tariff:
    """One year's tariff (tarifs.toml), all money already exact integers.

    Amounts (part_fixe, plancher, plafond, montant_total) are in cents; unit prices
    (part_ecole, part_eleve, bands) in 1/10 000 €.
    """

    annee: int
    deliberation: str
    rentree: int
    mode: str = "bareme"  # bareme | repartition
    part_fixe_cents: int = 0
    part_ecole_units: int = 0
    part_eleve_units: int | None = 0  # None when bands are used
    tranches: tuple[Band, ...] = ()
    tranches_mode: str = "progressif"  # progressif | global
    plancher_cents: int | None = None
    plafond_cents: int | None = None
    prorata: str = "jours"  # aucun | mois | jours
    echeance_jours: int = 30
    montant_total_cents: int | None = None  # repartition
    poids: tuple[tuple[str, Fraction], ...] = ()  # repartition: (criterion, weight), weights sum to 1
    imputation: str | None = None  # overrides the syndicat's for this year
    date_emission: date | None = None  # optional fixed issue date for the notices
    # DESIGN §4b
    part_classe_units: int = 0     # per class of the member's public schools
    part_habitant_units: int = 0   # per inhabitant
    strates: tuple[Strate, ...] = ()  # a flat amount by population band
    seuil_cents: int = DEFAULT_SEUIL_CENTS  # seuil de recouvrement; 0 disables it
    groupes: tuple[GroupOverride, ...] = ()
    competences: tuple["Competence", ...] = ()  # DESIGN §4c; empty: the year is one competence, as before
    key_lines: tuple[tuple[str, int], ...] = field(default=(), compare=False)  # tarifs.toml line of each key

    @property
    def uses_bands(self) -> bool:
        return bool(self.tranches)

    @property
    def uses_population(self) -> bool:
        """Does any amount of this tariff (or of one of its groups) depend on the population?"""
        return any(t.part_habitant_units or t.strates or any(k == "population" and w for k, w in t.poids)
                   for t in (self, *(self.for_group(g.nom) for g in self.groupes)))

    @property
    def uses_classes(self) -> bool:
        return any(t.part_classe_units for t in (self, *(self.for_group(g.nom) for g in self.groupes)))

    def line_of(self, key: str) -> int | None:
        return dict(self.key_lines).get(key)

    def group(self, nom: str | None) -> GroupOverride | None:
        return next((g for g in self.groupes if g.nom == nom), None) if nom is not None else None

    def for_group(self, nom: str | None) -> "Tariff":
        """The tariff a member of group ``nom`` pays: the year's, with the group's overrides (no group: itself)."""
        override = self.group(nom)
        if override is None:
            return self
        values = dict(override.fields)
        if "part_eleve_units" in values:
            values.setdefault("tranches", ())
        if values.get("tranches"):
            values["part_eleve_units"] = None
        return replace(self, groupes=(), **values)


@dataclass(frozen=True)
class Competence:
    """``[YEAR.competences.NAME]`` (DESIGN §4c): a competence priced alone by its own ``tariff`` (the year's
    rentree, prorata and echeance_jours as defaults) over the members that transferred it, or over every
    billable member when ``pour_tous``."""

    nom: str
    libelle: str
    tariff: Tariff
    imputation: str | None = None
    pour_tous: bool = False


@dataclass(frozen=True)
class InputHash:
    """A file that fed a run, with its SHA-256 (Paramètres sheet, manifest, ledger)."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class YearInputs:
    """Everything read, validated and resolved for one billing year: the pricing stage's input."""

    annee: int
    syndicat: Syndicat
    tariff: Tariff
    billing_base: object  # polars.DataFrame (see module docstring)
    problems: tuple = ()  # warnings that stood (errors stop before this exists)
    input_hashes: tuple[InputHash, ...] = ()
    budget: object | None = None  # polars.DataFrame | None
    extra: dict = field(default_factory=dict)
