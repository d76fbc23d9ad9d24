"""Build the bundled sample inputs (``inputs/`` and ``billing/sample/``) from the seed deliberation.

Run by hand from the repository root when the sample must change, then commit both folders:

    python scripts/make_sample_inputs.py

A build script, like ``build_register.py``: it alone reads ``../shared/data`` (the seed
deliberation 2024-01 and the official commune register); the product and the tests never
do. Standalone on purpose (no import of ``billing``), deterministic (fixed seed): the same
bytes on every run, so the committed files change only when this script does.

Real: the 91 communes of article 1 and their grouping, their INSEE codes, names, postal
codes and populations, Lys-lez-Lannoy's 5 schools and 1,100 pupils of 2023-2024, the
syndicate's name and president. Illustrative: every other count, the UAIs, the dates of
effect, the rates, the budget, the payments, the communes' NIC and the syndicate's IBAN.
"""

from __future__ import annotations

import csv
import math
import random
import shutil
import sys
import unicodedata
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SEED = SHARED / "seeds" / "000_dae6354495356688.txt"
REGISTER_CSV = SHARED / "communes_france.csv"
TARGETS = (ROOT / "inputs", ROOT / "billing" / "sample")
RANDOM_SEED = 20240221  # the day of deliberation 2024-01

LYS = "59367"
LILLE = "59350"
NO_PUBLIC_SCHOOL = "59658"  # Wicres: only a private school (illustrative), its pupils go to a neighbour's
NON_MEMBERS = ("59011", "59332")  # Annœullin, Lannoy: in the MEL, not in the deliberation, in the export
SHRINKING = "59650"  # Wattrelos: one maternelle merged into a neighbour between the two rentrées

DATE_EFFET = date(2024, 3, 1)  # deliberation of 21/02/2024, executory on its transmission: 1st of next month
DELIBERATION_SYNDICAT = "2024-01 du 21/02/2024"
LYS_DELIBERATION = "13/12/2023"

# The names the deliberation spells wrongly, mapped to the commune they mean (checked, not guessed).
SEED_TYPOS = {"Saily-lez-Lannoy": "59522", "Chérengh": "59146"}
# What the officer typed besides the deliberation's own spellings: case, accents, abbreviations.
TYPED_VARIANTS = {
    "59378": "MARCQ-EN-BAROEUL",
    "59009": "Villeneuve d'Ascq",
    "59410": "Mons-en-Baroeul",
    "59173": "Deulemont",
    "59527": "St-André-lez-Lille",
}
# Lille's associated communes, whose schools the export lists under their own name and postal code.
ASSOCIATED = {"59355": ("LOMME", "59160"), "59298": ("HELLEMMES-LILLE", "59260")}
LILLE_OWN_POSTCODES = ("59000", "59800")
EXPORT_NAME_VARIANTS = {"59143": "LA CHAPELLE D'ARMENTIERES"}  # spaces for hyphens, as real exports do

REP_PLUS_TOWNS = {"59350", "59512", "59599"}  # Lille, Roubaix, Tourcoing
REP_TOWNS = REP_PLUS_TOWNS | {"59650", "59299", "59410", "59360", "59279", "59017", "59009"}

EXPORT_HEADER = (
    "Rentrée scolaire", "Région académique", "Académie", "Département", "Commune", "Numéro de l'école",
    "Dénomination principale", "Patronyme", "Secteur", "REP", "REP +", "Nombre total de classes",
    "Nombre total d'élèves", "Nombre d'élèves en pré-élémentaire hors ULIS",
    "Nombre d'élèves en élémentaire hors ULIS", "Nombre d'élèves en ULIS", "Nombre d'élèves en CP hors ULIS",
    "Nombre d'élèves en CE1 hors ULIS", "Nombre d'élèves en CE2 hors ULIS", "Nombre d'élèves en CM1 hors ULIS",
    "Nombre d'élèves en CM2 hors ULIS", "tri", "Code Postal",
)
PUBLIC_NAMES = (
    "JEAN JAURES", "JULES FERRY", "VICTOR HUGO", "LES TILLEULS", "PASTEUR", "JEAN MACE", "LOUISE MICHEL",
    "JACQUES PREVERT", "JEAN DE LA FONTAINE", "CONDORCET", "MARIE CURIE", "PABLO PICASSO", "LES MARRONNIERS",
    "ANTOINE DE SAINT-EXUPERY", "ANATOLE FRANCE", "PAUL BERT", "GEORGE SAND", "LES PRIMEVERES",
    "CHARLES PERRAULT", "JEAN ZAY", "LEO LAGRANGE", "ROGER SALENGRO", "PIERRE BROSSOLETTE", "JEAN MOULIN",
    "LUCIE AUBRAC", "SIMONE VEIL", "ALBERT CAMUS", "MAX LINDER", "DESCARTES", "VOLTAIRE", "MICHELET",
    "JULES VERNE", "LES LILAS", "LES GLYCINES", "LE PETIT PRINCE", "ARC-EN-CIEL", "DU CENTRE", "LAMARTINE",
    "JEAN ROSTAND", "PAUL ELUARD", "ALPHONSE DAUDET", "FRANCOISE DOLTO", "ROBESPIERRE", "DIDEROT",
)
PRIVATE_NAMES = ("SAINT-JOSEPH", "SAINTE-MARIE", "NOTRE-DAME", "SAINT-LOUIS", "JEANNE D'ARC", "SAINT-MICHEL",
                 "SACRE-COEUR", "SAINTE-THERESE", "LA SALLE", "SAINT-PIERRE", "SAINT-CHRISTOPHE")
UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

# tarifs.toml [2024], as the pricing reads it: cents and 1/10 000 €.
PART_ECOLE_CENTS, PART_ELEVE_UNITS, PLANCHER_CENTS = 15_000, 12_000, 10_000


@dataclass(frozen=True)
class Commune:
    code: str
    type: str
    libelle: str
    parent: str | None
    population: int
    postcodes: tuple[str, ...]


@dataclass(frozen=True)
class Member:
    commune: Commune
    typed: str  # the name as the officer copied it
    statut: str
    groupe: str


@dataclass(frozen=True)
class School:
    uai: str
    code: str  # the COM code it counts for
    place: str  # commune name as the export writes it
    postcode: str
    kind: str  # MATERNELLE | ELEMENTAIRE | PRIMAIRE
    secteur: str  # PUBLIC | PRIVE
    patronyme: str
    rep: str  # "", "REP" or "REP+"
    pupils: dict  # rentrée -> total pupils (absent: not open that rentrée)
    ulis: int


# --- reading the sources -------------------------------------------------------------------------

def fold(text: str) -> str:
    """Compare names as the product does: no case, accents, hyphens or apostrophes."""
    text = text.replace("œ", "oe").replace("Œ", "OE")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    for mark in "-'’":
        text = text.replace(mark, " ")
    return " ".join(text.lower().split())


def export_name(libelle: str) -> str:
    """« Marcq-en-Barœul » -> « MARCQ-EN-BAROEUL »: upper case, no accents, as the export writes it."""
    text = libelle.replace("œ", "oe").replace("Œ", "OE")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).upper()


def read_register(path: Path) -> dict[tuple[str, str], Commune]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {(r["code_insee"], r["type"]): Commune(
            r["code_insee"], r["type"], r["libelle"], r["code_parent"] or None,
            int(r["population_municipale"] or 0), tuple((r["codes_postaux"] or "").split()))
            for r in csv.DictReader(handle)}


def bullet_list(text: str) -> list[str]:
    return [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]


def named_list(text: str, start: str) -> list[str]:
    """The comma-separated commune names of a « Vu … » paragraph."""
    names = text.split(start, 1)[1].split(" (ci-après", 1)[0]
    return [n.strip() for n in names.split(",")]


def read_members(seed_text: str, register: dict) -> list[Member]:
    """The 91 communes of article 1 with their statut and group, typed as the officer would have."""
    article = bullet_list(seed_text.split("Article 1", 1)[1].split("L'effectivité", 1)[0])
    conditional = bullet_list(seed_text.split("L'effectivité", 1)[1].split("Article 2", 1)[0])
    first = named_list(seed_text, "prises par les communes de ")
    second = named_list(seed_text, "par les maires des communes de ")
    assert (len(article), len(conditional), len(first), len(second)) == (91, 21, 70, 20)

    by_folded = {fold(c.libelle): c for (code, kind), c in register.items() if kind == "COM" and code[:2] == "59"}

    def resolve(name: str) -> Commune:
        if name in SEED_TYPOS:
            return register[(SEED_TYPOS[name], "COM")]
        return by_folded[fold(name)]

    article_codes = {resolve(n).code: n for n in article}
    first_codes = {resolve(n).code: n for n in first}
    second_codes = {resolve(n).code: n for n in second}
    conditional_codes = {resolve(n).code for n in conditional}
    assert len(article_codes) == 91 and set(first_codes) | set(second_codes) <= set(article_codes)
    assert not conditional_codes & set(first_codes) and set(second_codes) <= conditional_codes
    members = []
    for name in article:  # the officer's register follows the deliberation's alphabetical order
        commune = resolve(name)
        code = commune.code
        if code in first_codes:
            statut, groupe, typed = "adherente", "premier groupe", name
        elif code in second_codes:  # copied from the letters paragraph: « Chérengh »
            statut, groupe, typed = "conditionnelle", "second groupe", second_codes[code]
        else:  # Hantay: in article 1 and in the conditional list, in neither « Vu »
            assert code in conditional_codes, name
            statut, groupe, typed = "conditionnelle", "hors groupe", name
        members.append(Member(commune, TYPED_VARIANTS.get(code, typed), statut, groupe))
    return members


# --- identifiers ---------------------------------------------------------------------------------

def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def luhn_complete(prefix: str) -> str:
    """``prefix`` plus the one digit that makes it pass Luhn."""
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


def commune_siret(code: str) -> str:
    """A commune's SIREN is 21 + département + 0 + commune number + key (Lille: 215903501);
    the NIC of the town hall is illustrative (0001 + key)."""
    siren = luhn_complete(f"21{code[:2]}0{code[2:]}")
    return luhn_complete(siren + "0001")


def uai(number: int) -> str:
    digits = f"{number:07d}"
    return digits + UAI_LETTERS[number % 23]


# --- pupil counts --------------------------------------------------------------------------------

def split_exactly(total: int, weights: list[float]) -> list[int]:
    """``total`` shared in proportion to ``weights``, largest remainders, summing exactly."""
    raw = [total * w / sum(weights) for w in weights]
    parts = [math.floor(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: parts[i] - raw[i])[: total - sum(parts)]:
        parts[i] += 1
    return parts


def plan_schools(communes: list[Commune], register: dict, rng: random.Random) -> list[School]:
    """Schools of every commune, public and private, with their 2022 and 2023 counts."""
    numbers = iter(rng.sample(range(590_100, 597_000), 2_000))  # 059xxxx: Nord
    schools = []
    for commune in communes:
        primary = commune.population * rng.uniform(0.088, 0.102)
        has_private = commune.population >= 4_000 or (commune.population >= 2_000 and rng.random() < 0.4) \
            or commune.code == NO_PUBLIC_SCHOOL
        if commune.code == NO_PUBLIC_SCHOOL:
            public = 0
        elif has_private:
            public = round(primary * (1 - rng.uniform(0.12, 0.22)))
        else:
            public = round(primary * rng.uniform(0.85, 0.95))  # the others go to a neighbour's private school
        private = round(primary * 0.15) if has_private else 0
        n_public = 0 if public == 0 else max(1, round(public / rng.uniform(150, 250)))
        if commune.code == LYS:
            n_public, public = 5, 1_100
        places = school_places(commune, register)
        kinds = school_kinds(n_public)
        weights = [{"MATERNELLE": 0.75, "ELEMENTAIRE": 1.15, "PRIMAIRE": 1.25}[k] * rng.uniform(0.8, 1.2)
                   for k in kinds]
        names = rng.sample(PUBLIC_NAMES, len(PUBLIC_NAMES))
        for index, (kind, pupils) in enumerate(zip(kinds, split_exactly(public, weights))):
            place, postcode = places[rng.randrange(len(places))] if commune.code == LILLE else places[0]
            rep = ""
            if commune.code in REP_TOWNS and postcode not in ("59160", "59650", "59491"):
                draw = rng.random()
                rep = "REP+" if draw < 0.25 and commune.code in REP_PLUS_TOWNS else "REP" if draw < 0.5 else ""
            schools.append(School(uai(next(numbers)), commune.code, place, postcode, kind, "PUBLIC",
                                  names[index % len(names)], rep,
                                  {2023: pupils, 2022: round(pupils * rng.uniform(0.99, 1.05))},
                                  ulis_pupils(kind, pupils, rng)))
        if commune.code == LYS:  # 2022: the same five schools, 1,121 pupils (illustrative)
            shares = split_exactly(1_121, [s.pupils[2023] for s in schools[-5:]])
            for school, count in zip(schools[-5:], shares):
                school.pupils[2022] = count
        if commune.code == SHRINKING:
            schools.append(School(uai(next(numbers)), commune.code, places[0][0], places[0][1], "MATERNELLE",
                                  "PUBLIC", "LES COQUELICOTS", "REP", {2022: 64}, 0))
        n_private = 0 if private == 0 else max(1, round(private / rng.uniform(180, 260)))
        for index, pupils in enumerate(split_exactly(private, [rng.uniform(0.8, 1.2) for _ in range(n_private)])):
            place, postcode = places[0]
            schools.append(School(uai(next(numbers)), commune.code, place, postcode, "PRIMAIRE", "PRIVE",
                                  PRIVATE_NAMES[index % len(PRIVATE_NAMES)], "",
                                  {2023: pupils, 2022: round(pupils * rng.uniform(0.98, 1.04))}, 0))
    return schools


def school_places(commune: Commune, register: dict) -> list[tuple[str, str]]:
    """(export name, postal code) where a commune's schools stand; Lille's spread over Lomme and Hellemmes."""
    if commune.code == LILLE:
        own = [("LILLE", p) for p in LILLE_OWN_POSTCODES]
        associated = [ASSOCIATED[c] for (c, kind), row in register.items()
                      if kind == "COMA" and row.parent == LILLE]
        assert {p for _, p in associated} <= set(commune.postcodes)
        return own * 4 + associated  # about a fifth of Lille's schools in Lomme and Hellemmes
    name = EXPORT_NAME_VARIANTS.get(commune.code, export_name(commune.libelle))
    return [(name, commune.postcodes[0])]


def school_kinds(n: int) -> list[str]:
    if n <= 1:
        return ["PRIMAIRE"] * n
    cycle = ("MATERNELLE", "ELEMENTAIRE", "PRIMAIRE")
    return [cycle[i % 3] for i in range(n)]


def ulis_pupils(kind: str, pupils: int, rng: random.Random) -> int:
    if kind == "MATERNELLE" or pupils < 150 or rng.random() > 0.12:
        return 0
    return rng.randint(8, 12)


def export_row(school: School, rentree: int, rng: random.Random) -> list[str]:
    total = school.pupils[rentree]
    ulis = min(school.ulis, total)
    if school.kind == "MATERNELLE":
        pre = total
    elif school.kind == "ELEMENTAIRE":
        pre = 0
    else:
        pre = round((total - ulis) * rng.uniform(0.33, 0.40))
    elementary = total - pre - ulis
    levels = split_exactly(elementary, [rng.uniform(0.9, 1.1) for _ in range(5)]) if elementary else [0] * 5
    classes = math.ceil(pre / 26) + math.ceil(elementary / 24) + (1 if ulis else 0)
    kind = f"ECOLE {school.kind} {'PUBLIQUE' if school.secteur == 'PUBLIC' else 'PRIVEE'}"
    tri = f"32-HAUTS-DE-FRANCE-LILLE-NORD-{school.place}-{school.uai}"
    return [str(rentree), "HAUTS-DE-FRANCE", "LILLE", "NORD", school.place, school.uai, kind, school.patronyme,
            school.secteur, "1" if school.rep == "REP" else "0", "1" if school.rep == "REP+" else "0",
            str(max(classes, 1)), str(total), str(pre), str(elementary), str(ulis), *map(str, levels), tri,
            school.postcode]


# --- expected figures ----------------------------------------------------------------------------

def expected_contribution(ecoles: int, eleves: int, *, days: int, year_days: int) -> tuple[int, int]:
    """(annual, billed) in cents under [2024]: 150 € a school, 1.20 € a pupil, floor 100 €, prorata jours."""
    annual = max(ecoles * PART_ECOLE_CENTS + eleves * PART_ELEVE_UNITS // 100, PLANCHER_CENTS)
    billed = Fraction(annual * days, year_days)
    return annual, math.floor(billed + Fraction(1, 2))


def count_by_commune(schools: list[School], rentree: int) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for s in schools:
        pupils = s.pupils.get(rentree, 0)
        if s.secteur == "PUBLIC" and pupils > 0:
            ecoles, eleves = counts.get(s.code, (0, 0))
            counts[s.code] = (ecoles + 1, eleves + pupils)
    return counts


# --- formatting ----------------------------------------------------------------------------------

def french_amount(cents: int) -> str:
    """1234567 -> « 12 345,67 », as a person types it."""
    euros, rest = divmod(cents, 100)
    return f"{euros:,}".replace(",", " ") + f",{rest:02d}"


def csv_text(rows: list[list[str]], *, separator: str, line_end: str, bom: bool) -> str:
    lines = []
    for row in rows:
        cells = [f'"{c}"' if separator in c or '"' in c else c for c in row]
        lines.append(separator.join(cells))
    return ("\ufeff" if bom else "") + line_end.join(lines) + line_end


# --- the files -----------------------------------------------------------------------------------

def build() -> tuple[dict[str, str], dict]:
    register = read_register(REGISTER_CSV)
    members = read_members(SEED.read_text(encoding="utf-8"), register)
    rng = random.Random(RANDOM_SEED)

    adhesions = [["code_insee", "commune", "statut", "date_effet", "date_retrait", "deliberation_commune",
                  "deliberation_syndicat", "groupe", "siret", "delegue"]]
    for m in members:
        adherente = m.statut == "adherente"
        siret = commune_siret(m.commune.code) if adherente else ""
        assert not siret or luhn_ok(siret)
        adhesions.append([m.commune.code, m.typed, m.statut, DATE_EFFET.strftime("%d/%m/%Y") if adherente else "",
                          "", LYS_DELIBERATION if m.commune.code == LYS else "", DELIBERATION_SYNDICAT, m.groupe,
                          siret, ""])

    communes = sorted([m.commune for m in members] + [register[(c, "COM")] for c in NON_MEMBERS],
                      key=lambda c: c.code)
    schools = plan_schools(communes, register, rng)
    rows = [export_row(s, rentree, rng) for s in schools for rentree in (2022, 2023) if rentree in s.pupils]
    rows.sort(key=lambda r: (-int(r[0]), r[4], r[5]))
    effectifs = csv_text([list(EXPORT_HEADER), *rows], separator=";", line_end="\n", bom=True)

    year_days = 366
    days = (date(2025, 1, 1) - DATE_EFFET).days
    counts = count_by_commune(schools, 2023)
    billed, indicative = {}, {}
    for m in members:
        ecoles, eleves = counts.get(m.commune.code, (0, 0))
        annual, prorated = expected_contribution(ecoles, eleves, days=days, year_days=year_days)
        if m.statut == "adherente":
            billed[m.commune.code] = (annual, prorated)
        else:
            indicative[m.commune.code] = annual
    total = sum(p for _, p in billed.values())
    figures = {
        "statuts": {s: sum(m.statut == s for m in members) for s in ("adherente", "conditionnelle", "retiree")},
        "days": (days, year_days),
        "rows": len(rows),
        "by_rentree": {r: {
            "public_schools": sum(s.secteur == "PUBLIC" and s.pupils.get(r, 0) > 0 for s in schools),
            "public_pupils": sum(s.pupils.get(r, 0) for s in schools if s.secteur == "PUBLIC"),
            "private_schools": sum(s.secteur == "PRIVE" and r in s.pupils for s in schools)} for r in (2022, 2023)},
        "billable": {
            "ecoles": sum(counts.get(c, (0, 0))[0] for c in billed),
            "eleves": sum(counts.get(c, (0, 0))[1] for c in billed),
            "annual_cents": sum(a for a, _ in billed.values()),
            "total_cents": total,
        },
        "conditional": {
            "ecoles": sum(counts.get(c, (0, 0))[0] for c in indicative),
            "eleves": sum(counts.get(c, (0, 0))[1] for c in indicative),
            "annual_cents": sum(indicative.values()),
        },
        "lys": (counts[LYS], billed[LYS]),
        "lille": (counts[LILLE], billed[LILLE]),
        "no_school": billed[NO_PUBLIC_SCHOOL],
    }

    budget_7474 = (total // 100_000 + 1) * 100_000  # voted before the counts were known: rounded up to 1,000 €
    budget = csv_text([
        ["annee", "compte", "libelle", "montant_prevu"],
        ["2024", "7472", "Participations – Régions", french_amount(42_000_000)],
        ["2024", "7473", "Participations – Départements", french_amount(18_000_000)],
        ["2024", "7474", "Participations – Communes", french_amount(budget_7474)],
        ["2023", "7472", "Participations – Régions", french_amount(40_000_000)],
        ["2023", "7473", "Participations – Départements", french_amount(18_000_000)],
    ], separator=",", line_end="\n", bom=False)
    figures["budget_7474_cents"] = budget_7474

    paiements, figures["payments"] = payments(billed, members)
    files = {
        "LISEZMOI.md": lisezmoi(figures, members),
        "adhesions.csv": csv_text(adhesions, separator=";", line_end="\r\n", bom=True),
        "budget.csv": budget,
        "effectifs.csv": effectifs,
        "paiements.csv": paiements,
        "syndicat.toml": SYNDICAT,
        "tarifs.toml": TARIFS,
    }
    return files, figures


def payments(billed: dict[str, tuple[int, int]], members: list[Member]) -> tuple[str, list]:
    """A few receipts of the comptable, assuming titres numbered in INSEE-code order of the billed communes."""
    numbers = {code: f"ENT-2024-{i:04d}" for i, code in enumerate(sorted(billed), start=1)}
    due = {code: prorated for code, (_, prorated) in billed.items()}
    annual = {code: a for code, (a, _) in billed.items()}
    plan = [  # (code, what is paid, cites the titre number, date, reference)
        ("59005", due["59005"], True, "14/05/2024", "VIR-2024-0514-0031"),  # Allennes-les-Marais: all of it
        ("59367", 60_000, True, "06/06/2024", "VIR-2024-0606-0112"),  # Lys-lez-Lannoy: a first instalment
        (LILLE, due[LILLE] // 2, True, "28/06/2024", "VIR-2024-0628-0007"),  # Lille: half, the rest later
        ("59013", annual["59013"], True, "21/05/2024", "VIR-2024-0521-0044"),  # Anstaing: a whole year, too much
        ("59560", due["59560"], False, "03/07/2024", "VIR-2024-0703-0019"),  # Seclin: no number, exact amount
        ("59328", due["59328"], True, "17/06/2024", "VIR-2024-0617-0086"),  # Lambersart: all of it
    ]
    rows = [["numero_titre", "date", "montant", "code_insee", "reference"]]
    described = []
    for code, cents, cites, paid_on, reference in sorted(plan, key=lambda p: p[3][6:] + p[3][3:5] + p[3][:2]):
        rows.append([numbers[code] if cites else "", paid_on, french_amount(cents), code, reference])
        described.append((code, numbers[code], cents, due[code], cites))
    return csv_text(rows, separator=";", line_end="\r\n", bom=False), described


SYNDICAT = """\
# L'émetteur des titres de recettes (l'ordonnateur) et le comptable public qui les recouvre.
# Nom et président : réels (délibération 2024-01). SIRET et IBAN : illustratifs.
[syndicat]
nom = "Syndicat mixte Nord - Pas-de-Calais Numérique"
adresse = "151 avenue du Président Hoover, 59555 Lille Cedex"
siret = "25590019600031"
president = "Christophe COULON"      # l'ordonnateur, tel qu'il signe le titre
qualite = "Président"
prefixe_titre = "ENT"
delai_paiement_jours = 30
tribunal = "Tribunal administratif de Lille"
imputation = "7474"                  # compte M57 des contributions

[comptable]
nom = "Service de gestion comptable de Lille Métropole"
iban = "FR7630001007941234567890185"
bic = "BDFEFRPPCCT"
"""

TARIFS = """\
# Tarifs votés par le comité syndical, une section par exercice.
# Les montants de cet exemple sont ILLUSTRATIFS : reportez ceux de votre délibération.

[2024]
deliberation = "2023-05 du 13 décembre 2023"
rentree = 2023              # effectifs de l'année scolaire 2023-2024
mode = "bareme"
part_fixe = "0.00"          # € par commune membre
part_ecole = "150.00"       # € par école publique
part_eleve = "1.20"         # € par élève
plancher = "100.00"         # minimum annuel, avant prorata
prorata = "jours"           # adhésion en cours d'année : au jour près
echeance_jours = 30
imputation = "7474"
date_emission = 2024-04-15  # date des titres ; sans elle, le jour de l'émission

[2023]
deliberation = "2022-07 du 14 décembre 2022"
rentree = 2022              # effectifs de l'année scolaire 2022-2023
mode = "bareme"
part_fixe = "0.00"
part_ecole = "150.00"
part_eleve = "1.10"
plancher = "100.00"
prorata = "jours"
echeance_jours = 30
imputation = "7474"
"""


def lisezmoi(figures: dict, members: list[Member]) -> str:
    n, b, c = figures["statuts"], figures["billable"], figures["conditional"]
    typed = ", ".join(f"« {m.typed} »" for m in members if m.typed != m.commune.libelle)
    count = lambda k: f"{k:,}".replace(",", "\u202f")  # noqa: E731
    return f"""\
# Données d'exemple d'ent-bill

Le syndicat de la délibération 2024-01 du comité syndical (21 février 2024) : les 91
communes de la Métropole Européenne de Lille dont l'article 1 approuve l'adhésion.
`ent-bill compute 2024` s'exécute sur ce dossier tel quel.

| fichier | contenu | réel ou illustratif |
|---|---|---|
| `syndicat.toml` | l'émetteur et le comptable public | nom et président réels ; adresse du Conseil régional, où siège le comité ; SIRET et IBAN illustratifs (clés de contrôle valides) |
| `adhesions.csv` | les 91 communes : {n['adherente']} `adherente` (premier groupe), {n['conditionnelle']} `conditionnelle` | communes, codes INSEE, groupes et délibération de Lys-lez-Lannoy (13/12/2023) réels ; date d'effet et NIC des SIRET illustratifs |
| `effectifs.csv` | l'export « Effectifs d'élèves par école » tel que téléchargé (BOM, `;`), rentrées 2022 et 2023 | Lys-lez-Lannoy réel à la rentrée 2023 (5 écoles publiques, 1 100 élèves) ; noms et codes postaux des communes réels ; tout le reste (UAI, écoles, effectifs) illustratif, proportionnel à la population |
| `tarifs.toml` | les tarifs 2023 et 2024 | illustratifs |
| `budget.csv` | les crédits du budget primitif (comptes M57) | illustratifs |
| `paiements.csv` | quelques encaissements du comptable public, pour `ent-bill reconcile 2024` après `issue` | illustratifs |

Choix faits :

- **Statuts.** Le premier groupe (« Vu les délibérations … ») est `adherente` ; le second
  (« Vu les courriers … ») est `conditionnelle`, sans date d'effet. Hantay figure à
  l'article 1 et dans la liste des adhésions conditionnelles mais dans aucun des deux
  « Vu » : elle est `conditionnelle` (groupe « hors groupe »). Aucune commune `retiree` :
  un retrait dans l'année de l'adhésion ne serait pas vraisemblable.
- **Date d'effet** : 01/03/2024, premier jour du mois qui suit la délibération du
  21/02/2024 devenue exécutoire ; la contribution 2024 est due pour 306 jours sur 366.
- **Noms tapés** comme l'agent les a recopiés de la délibération, coquilles comprises,
  avec quelques variantes de saisie : {typed}.
  Le code INSEE prime ; ent-bill signale chaque nom qui diffère du référentiel.
- **SIRET** : renseigné pour les communes du premier groupe (SIREN de la commune :
  21 + département + 0 + numéro de commune + clé ; NIC illustratif), vide pour les autres.
- **Effectifs** : toutes les communes membres y figurent. Les écoles de Lomme et
  d'Hellemmes-Lille (communes associées) figurent sous leur nom et comptent pour Lille.
  Wicres n'a qu'une école privée (ses élèves vont à l'école publique voisine) : 0 école,
  0 élève, elle paie le plancher, avec un avertissement. Annœullin et Lannoy, voisines
  non membres, figurent dans l'export : leurs effectifs sont ignorés, avec un
  avertissement. À Wattrelos, une école maternelle de la rentrée 2022 a fermé en 2023.
- **2023** : aucune de ces communes n'était membre ; le tarif 2023 sert à la comparaison
  d'une année sur l'autre (toutes les communes y apparaissent comme nouvelles).
- **Paiements** : numéros de titres supposés attribués dans l'ordre des codes INSEE des
  communes facturées ; deux paiements complets, deux partiels, un trop-perçu (Anstaing a
  payé l'année entière, sans prorata), un paiement sans numéro retrouvé par commune et
  montant exact.

Ce que donne le calcul 2024 (rentrée 2023, vérifié indépendamment) : {n['adherente']} communes
facturées, {count(b['ecoles'])} écoles publiques, {count(b['eleves'])} élèves, {french_amount(b['total_cents'])} € au total ;
{n['conditionnelle']} communes conditionnelles, {count(c['ecoles'])} écoles, {count(c['eleves'])} élèves, {french_amount(c['annual_cents'])} € à titre indicatif
(année entière).
"""


def main() -> None:
    files, figures = build()
    for target in TARGETS:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name, text in files.items():
            (target / name).write_bytes(text.encode("utf-8"))
    report(figures)


def report(figures: dict) -> None:
    euros = lambda c: french_amount(c) + " €"  # noqa: E731
    print(f"statuts : {figures['statuts']} ; prorata {figures['days'][0]}/{figures['days'][1]}")
    print(f"effectifs.csv : {figures['rows']} lignes ; {figures['by_rentree']}")
    b, c = figures["billable"], figures["conditional"]
    print(f"facturées : {b['ecoles']} écoles, {b['eleves']} élèves, annuel {euros(b['annual_cents'])}, "
          f"dû 2024 {euros(b['total_cents'])}")
    print(f"conditionnelles (indicatif, année entière) : {c['ecoles']} écoles, {c['eleves']} élèves, "
          f"{euros(c['annual_cents'])}")
    print(f"Lys-lez-Lannoy : {figures['lys']} ; Lille : {figures['lille']} ; Wicres : {figures['no_school']}")
    print(f"budget 7474 : {euros(figures['budget_7474_cents'])}")
    for code, number, cents, due, cites in figures["payments"]:
        print(f"paiement {code} {number if cites else '(sans numéro)'} : {euros(cents)} pour {euros(due)} dus")
    print(f"écrit dans {', '.join(str(t.relative_to(ROOT)) for t in TARGETS)}", file=sys.stderr)


if __name__ == "__main__":
    main()
