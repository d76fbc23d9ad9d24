"""One way through a year: read -> validate -> resolve -> price, as a list of stages.

Built like beancount's loader: each stage takes the year's state and gives back the new
state and the problems it found. Every command that needs a priced year (``compute``,
``explain``, ``simulate``, ``issue``, the previous-year comparison) calls
:func:`prepare_year`; none repeats the sequence. Problems of every stage are gathered
and raised together in one ``BillingError``, so the officer sees all of them at once and
nothing is written.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import polars as pl

from billing.core import problems as P
from billing.core.model import InputHash, Syndicat, Tariff
from billing.core.pricing import Priced
from billing.core.problems import BillingError, Code, Problem

INPUT_STEMS = ("syndicat", "tarifs", "adhesions", "effectifs", "annuaire", "budget", "paiements", "debiteurs")
REQUIRED = (("syndicat", "syndicat.toml"), ("tarifs", "tarifs.toml"),
            ("adhesions", "adhesions.csv ou adhesions.xlsx"), ("effectifs", "effectifs.csv ou effectifs.xlsx"))


def display_path(path: Path, inputs_dir: Path) -> str:
    """The path as the officer named it: « inputs/adhesions.csv »."""
    return f"{inputs_dir.name}/{path.name}" if inputs_dir.name else path.name


@dataclass(frozen=True)
class YearState:
    """What the stages know so far; a stage fills the fields it is responsible for."""

    inputs_dir: Path
    annee: int
    tariff_override: Tariff | None = None
    files: dict[str, Path] = field(default_factory=dict)
    input_hashes: tuple[InputHash, ...] = ()
    syndicat: Syndicat | None = None
    tariff: Tariff | None = None
    register: object | None = None        # billing.inputs.register.Register
    members: pl.DataFrame | None = None
    annuaire: pl.DataFrame | None = None
    counted: object | None = None         # billing.inputs.counts.Counted
    budget: pl.DataFrame | None = None
    billing_base: pl.DataFrame | None = None
    debtors: pl.DataFrame | None = None   # debiteurs.csv (DESIGN §4c)
    priced: Priced | None = None

    def display(self, stem: str) -> str:
        return display_path(self.files[stem], self.inputs_dir)


@dataclass(frozen=True)
class YearData:
    """A year's inputs, read, validated, resolved and priced: what every command and renderer needs."""

    annee: int
    inputs_dir: Path
    syndicat: Syndicat
    tariff: Tariff
    billing_base: pl.DataFrame
    warnings: tuple[Problem, ...]
    input_hashes: tuple[InputHash, ...]
    priced: Priced  # its frames follow billing.core.contract (checked in tests)
    budget: pl.DataFrame | None = None
    debtors: pl.DataFrame | None = None  # debiteurs.csv, when present (DESIGN §4c)


Stage = Callable[[YearState], tuple[YearState, list[Problem]]]


def locate_files(state: YearState) -> tuple[YearState, list[Problem]]:
    """Find each input by its stem (CSV or XLSX, any case); the four required ones must exist."""
    from billing.inputs import readers

    inputs_dir = state.inputs_dir
    if not inputs_dir.is_dir():
        what = ("n'est pas un dossier (c'est un fichier)" if inputs_dir.is_file() else
                "n'est pas un dossier" if inputs_dir.exists() else "dossier des données introuvable")
        return state, [P.error(str(inputs_dir), None, None, what, code=Code.MISSING,
                               suggestion="Indiquez-le avec --inputs DOSSIER, ou créez un exemple avec "
                                          "« ent-bill init ».")]
    problems: list[Problem] = []
    files: dict[str, Path] = {}
    named: set[str] = set()
    for stem in INPUT_STEMS:
        if stem in ("syndicat", "tarifs"):
            path = inputs_dir / f"{stem}.toml"
            if path.exists():  # a folder of that name is refused by the reader, with its own words
                files[stem] = path
            continue
        path, found = readers.find_input(inputs_dir, stem)
        problems += found
        if path is not None:
            files[stem] = path
        elif found:
            named.add(stem)  # find_input said precisely what is wrong (a folder, a broken link)
    for required, hint in REQUIRED:
        if required not in files and required not in named:
            problems.append(P.error(f"{inputs_dir.name}/{hint.split(' ')[0]}", None, None,
                                    f"fichier obligatoire absent ({hint})", code=Code.MISSING,
                                    suggestion="« ent-bill init » crée un dossier d'exemple complet."))
    hashes = tuple(InputHash(path.name, readers.sha256_file(path), path.stat().st_size)
                   for _, path in sorted(files.items()) if path.is_file())
    return replace(state, files=files, input_hashes=hashes), problems


def read_config(state: YearState) -> tuple[YearState, list[Problem]]:
    """syndicat.toml and the year's table of tarifs.toml (or the tariff a simulation gives)."""
    from billing.inputs import config

    syndicat, problems = config.read_syndicat(state.files["syndicat"], display=state.display("syndicat"))
    tariffs, found = config.read_tariffs(state.files["tarifs"], display=state.display("tarifs"))
    problems = [*problems, *found]
    tariff = state.tariff_override
    if tariff is None and tariffs is not None:
        tariff, found = config.tariff_for_year(tariffs, state.annee, display=state.display("tarifs"))
        problems += found
    return replace(state, syndicat=syndicat, tariff=tariff), problems


def read_members(state: YearState) -> tuple[YearState, list[Problem]]:
    """adhesions.csv, typed, checked and resolved against the commune register."""
    from billing.inputs.members import read_members as read
    from billing.inputs.register import load_register

    register = load_register()
    members, problems = read(state.files["adhesions"], display=state.display("adhesions"), register=register)
    return replace(state, register=register, members=members), problems


def read_annuaire(state: YearState) -> tuple[YearState, list[Problem]]:
    """The optional « Annuaire de l'éducation »: UAI -> INSEE code (and the commune's SIRET)."""
    if "annuaire" not in state.files:
        return state, []
    from billing.inputs import readers

    table = readers.read_annuaire(state.files["annuaire"], display=state.display("annuaire"))
    annuaire = None
    if "uai" in table.frame.columns and "code_insee" in table.frame.columns:
        annuaire = table.frame.select("uai", "code_insee", *(
            c for c in ("siret",) if c in table.frame.columns)).filter(pl.col("uai").is_not_null())
        annuaire = annuaire.with_columns(pl.col("uai").str.to_uppercase())
    return replace(state, annuaire=annuaire), list(table.problems)


def read_counts(state: YearState) -> tuple[YearState, list[Problem]]:
    """effectifs.csv in any of its three forms, each school attributed to its commune."""
    from billing.inputs import readers
    from billing.inputs.counts import attribute_counts

    pupil_counts = readers.read_pupil_counts(state.files["effectifs"], display=state.display("effectifs"))
    found = [*pupil_counts.problems, *pupil_counts.table.problems]
    if any(p.is_error and p.row is None for p in found):
        return state, found
    counted = attribute_counts(pupil_counts, state.register, annuaire=state.annuaire)
    return replace(state, counted=counted), list(counted.problems)


def read_budget(state: YearState) -> tuple[YearState, list[Problem]]:
    """The optional budget.csv (M57 accounts and the amounts voted)."""
    if "budget" not in state.files:
        return state, []
    from billing.inputs.budget import read_budget as read

    budget, problems = read(state.files["budget"], display=state.display("budget"))
    return replace(state, budget=budget), problems


def read_debtors(state: YearState) -> tuple[YearState, list[Problem]]:
    """The optional debiteurs.csv: who pays for members that do not pay for themselves (DESIGN §4c)."""
    from billing.inputs.carte import read_debtors as read

    debtors, problems = read(state.files["debiteurs"], display=state.display("debiteurs"))
    return replace(state, debtors=debtors), problems


def build_base(state: YearState) -> tuple[YearState, list[Problem]]:
    """members ⋈ counts of the tariff's rentrée ⋈ register: one row per member (columns: billing.core.model);
    with the competences and debtor of each member when the year has them (DESIGN §4c)."""
    if state.members is None or state.counted is None or state.tariff is None:
        return state, []
    from billing.inputs.base import build_billing_base
    from billing.inputs.carte import member_carte, uses_counts

    carte, problems = member_carte(state.members, state.tariff, state.debtors, display=state.display("adhesions"),
                                   debtors_display=state.display("debiteurs") if "debiteurs" in state.files
                                   else "debiteurs.csv")
    counted_codes = None
    if carte is not None and state.tariff.competences:
        from billing.core.carte import transferred

        names = [c.nom for c in state.tariff.competences]
        counted_codes = set(carte.filter(pl.any_horizontal(
            [transferred(c, names) for c in state.tariff.competences if uses_counts(c.tariff)] or [pl.lit(False)])
        )["code_insee"].to_list())
    base, found = build_billing_base(state.members, state.counted, state.register, tariff=state.tariff,
                                     annee=state.annee, annuaire=state.annuaire,
                                     tariff_display=state.display("tarifs"), counted_codes=counted_codes)
    if carte is not None:
        base = base.join(carte, on="code_insee", how="left")
    return replace(state, billing_base=base), [*problems, *found]


def price(state: YearState) -> tuple[YearState, list[Problem]]:
    """The pure pricing of every member (DESIGN §4)."""
    from billing.core.carte import apply_debtor_seuil, price_carte
    from billing.core.pricing import PricingError, price_year

    try:
        if state.tariff.competences:
            priced = price_carte(state.billing_base, state.tariff, annee=state.annee)
        else:
            priced = price_year(state.billing_base, state.tariff, annee=state.annee)
        priced = replace(priced, contributions=apply_debtor_seuil(priced.contributions, state.tariff.seuil_cents))
    except PricingError as exc:
        return state, [P.error(state.display("tarifs"), None, None, str(exc), code=Code.TARIFF)]
    return replace(state, priced=priced), []


@dataclass(frozen=True)
class Step:
    stage: Stage
    needs: tuple[str, ...] = ()   # files that must exist for the stage to run
    gate: bool = False            # stop after this stage when an error stands


STAGES: tuple[Step, ...] = (
    Step(locate_files, gate=True),
    Step(read_config, needs=("syndicat", "tarifs")),
    Step(read_members, needs=("adhesions",)),
    Step(read_annuaire, needs=("annuaire",)),
    Step(read_counts, needs=("effectifs",)),
    Step(read_budget, needs=("budget",)),
    Step(read_debtors, needs=("debiteurs",)),
    Step(build_base, gate=True),
    Step(price, gate=True),
)


def prepare_year(inputs_dir: Path, annee: int, *, tariff_override: Tariff | None = None,
                 stages: tuple[Step, ...] = STAGES) -> YearData:
    """Read, validate, resolve and price every input of ``annee``.

    Raises ``BillingError`` with every problem of every stage that ran when any error stands.
    """
    state = YearState(Path(inputs_dir), annee, tariff_override)
    problems: list[Problem] = []
    for step in stages:
        if all(name in state.files for name in step.needs):
            state, found = step.stage(state)
            problems += found
        if step.gate and P.errors_of(problems):
            raise BillingError(drop_echoes(problems))
    if state.priced is None or state.syndicat is None:
        raise BillingError([*problems, P.error(str(inputs_dir), None, None,
                                               "données incomplètes : le calcul est impossible",
                                               code=Code.MISSING)])
    return YearData(annee, state.inputs_dir, state.syndicat, state.tariff, state.billing_base,
                    tuple(P.sort_problems(drop_echoes(problems))), state.input_hashes, state.priced, state.budget,
                    state.debtors)


def drop_echoes(problems: list[Problem]) -> list[Problem]:
    """A cell that could not be read is also « missing » for the schema: report it once, as unreadable."""
    located = {(p.file, p.row) for p in problems if p.is_error and p.code is not Code.MISSING}
    return [p for p in problems
            if not (p.is_error and p.code is Code.MISSING and p.row is not None and (p.file, p.row) in located)]


@contextmanager
def pricing_problems(data: YearData) -> Iterator[None]:
    """Re-pricing a prepared year (a simulation, the rate solver): a tariff that cannot be applied
    (overflow, bad weights…) is the same located problem as in :func:`price`, never a traceback."""
    from billing.core.pricing import PricingError

    try:
        yield
    except PricingError as exc:
        raise BillingError([P.error(display_path(data.inputs_dir / "tarifs.toml", data.inputs_dir), None, None,
                                    str(exc), code=Code.TARIFF)]) from None
