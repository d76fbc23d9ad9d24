"""Build the bundled sample inputs (inputs/ and billing/sample/) from the seed deliberation.

Run by hand from the repository root: ``python scripts/make_sample_inputs.py``. It reads
../shared (the seed deliberation 2024-01 and nothing else: communes come from the
package's own register); the product never does. Deterministic: same output every run.

Real: the 91 communes and their grouping (deliberation 2024-01 of 21 February 2024),
their INSEE codes, postal codes and populations, Lys-lez-Lannoy's 5 schools and 1,100
pupils of 2023-2024. Illustrative: every other count, the UAIs, dates and rates.
"""

from __future__ import annotations

import random
import re
import shutil
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from billing.identifiers import uai_key  # noqa: E402
from billing.register import load_register  # noqa: E402

SEED = ROOT.parent / "shared" / "data" / "seeds" / "000_dae6354495356688.txt"
TARGETS = (ROOT / "inputs", ROOT / "billing" / "sample")
LYS = "59367"
EXPORT_HEADER = ("Rentrée scolaire;Région académique;Académie;Département;Commune;Numéro de l'école;"
                 "Dénomination principale;Patronyme;Secteur;REP;REP +;Nombre total de classes;"
                 "Nombre total d'élèves;Nombre d'élèves en pré-élémentaire hors ULIS;"
                 "Nombre d'élèves en élémentaire hors ULIS;Nombre d'élèves en ULIS;Nombre d'élèves en CP hors ULIS;"
                 "Nombre d'élèves en CE1 hors ULIS;Nombre d'élèves en CE2 hors ULIS;Nombre d'élèves en CM1 hors ULIS;"
                 "Nombre d'élèves en CM2 hors ULIS;tri;Code Postal")
PATRONYMES = ("JEAN JAURES", "JULES FERRY", "VICTOR HUGO", "LES TILLEULS", "PASTEUR", "JEAN MACE", "LOUISE MICHEL",
              "JACQUES PREVERT", "LA FONTAINE", "CONDORCET", "MARIE CURIE", "PABLO PICASSO", "LES MARRONNIERS",
              "SAINT-EXUPERY", "ANATOLE FRANCE", "PAUL BERT", "GEORGE SAND", "LES PRIMEVERES", "CHARLES PERRAULT")
TYPED_NAMES = {"59522": "Saily-lez-Lannoy", "59146": "Chérengh", "59470": "Prêmesques", "59378": "MARCQ-EN-BAROEUL",
               "59009": "Villeneuve d'Ascq", "59368": "Madeleine (La)"}


def seed_groups() -> tuple[list[str], list[str], list[str]]:
    text = SEED.read_text(encoding="utf-8")
    article = text.split("Article 1")[1].split("L'effectivité")[0]
    everyone = [line[2:].strip() for line in article.splitlines() if line.startswith("- ")]
    conditional_part = text.split("L'effectivité")[1].split("Article 2")[0]
    conditional = [line[2:].strip() for line in conditional_part.splitlines() if line.startswith("- ")]
    return everyone, conditional, [n for n in everyone if n not in conditional]


def export_name(libelle: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", libelle.replace("œ", "oe").replace("Œ", "OE"))
    return "".join(c for c in ascii_text if not unicodedata.combining(c)).upper()


def main() -> None:
    register = load_register()
    everyone, conditional, first = seed_groups()
    assert len(everyone) == 91 and len(conditional) == 21, (len(everyone), len(conditional))
    rng = random.Random(2024)
    members = []
    for name in everyone:
        res = register.resolve_name(name, departements={"59"})
        if res.status != "ok":
            res = register.resolve_name(res.suggestions[0][0], departements={"59"})
        members.append((name, res.commune, name in conditional))

    # adhesions.csv: « ; » and a BOM, as French Excel saves « CSV (séparateur : point-virgule) »
    adhesions = ["code_insee;commune;statut;date_effet;date_retrait;deliberation_commune;deliberation_syndicat;"
                 "groupe;siret;delegue"]
    for name, commune, is_conditional in sorted(members, key=lambda m: m[1].code_insee):
        typed = TYPED_NAMES.get(commune.code_insee, name)
        if is_conditional:
            adhesions.append(f"{commune.code_insee};{typed};conditionnelle;;;;2024-01 du 21/02/2024;second;;")
        else:
            delib = "13/12/2023" if commune.code_insee == LYS else ""
            adhesions.append(f"{commune.code_insee};{typed};adherente;01/03/2024;;{delib};2024-01 du 21/02/2024;"
                             f"premier;;")
    adhesions_text = "\ufeff" + "\r\n".join(adhesions) + "\r\n"

    # effectifs.csv: the official export form, rentrées 2022 and 2023
    rows = []
    serial = 1000
    smallest = min((m for m in members if not m[2]), key=lambda m: m[1].population or 0)[1].code_insee
    lille_parts = {"59350": [("LILLE", "59000"), ("LOMME", "59160"), ("HELLEMMES-LILLE", "59260")]}
    outsiders = [register.commune("59011"), register.commune("59398")]  # Annœullin, Mérignies: not members
    plan = [(m[1], False) for m in members] + [(c, True) for c in outsiders if c is not None]
    for commune, _outsider in plan:
        population = commune.population or 1000
        pupils_public = max(25, round(population * 0.095 * 0.85))
        n_schools = max(1, round(pupils_public / 190))
        if commune.code_insee == LYS:
            n_schools, pupils_public = 5, 1100
        places = lille_parts.get(commune.code_insee, [(export_name(commune.libelle), commune.codes_postaux[0])])
        schools = []
        for index in range(n_schools):
            serial += 1
            number = f"059{serial:04d}"
            place = places[index % len(places)]
            kind = ("ECOLE PRIMAIRE PUBLIQUE", "ECOLE MATERNELLE PUBLIQUE", "ECOLE ELEMENTAIRE PUBLIQUE")[index % 3]
            schools.append([number + uai_key(number), kind, rng.choice(PATRONYMES), "PUBLIC", place])
        if commune.code_insee == smallest:
            schools = []  # its children attend a neighbour's public school: only a private school here
        shares = [rng.uniform(0.7, 1.3) for _ in schools]
        counts = [int(pupils_public * s / sum(shares)) for s in shares]
        if counts:
            counts[0] += pupils_public - sum(counts)
        private = population > 3000 or commune.code_insee == smallest
        if private:
            serial += 1
            number = f"059{serial:04d}"
            schools.append([number + uai_key(number), "ECOLE PRIMAIRE PRIVEE", rng.choice(("SAINTE-MARIE", "SAINT-JOSEPH", "NOTRE-DAME")),
                            "PRIVE", places[0]])
            counts.append(max(40, round(population * 0.095 * 0.15)))
        for (uai, kind, patronyme, secteur, (commune_name, postal)), pupils in zip(schools, counts):
            for rentree, drift in ((2022, rng.uniform(0.96, 1.04)), (2023, 1.0)):
                total = pupils if rentree == 2023 else max(1, round(pupils * drift))
                classes = max(1, round(total / 24))
                maternelle = total // 3 if "ELEMENTAIRE" not in kind else 0
                elementaire = total - maternelle
                per_level = [elementaire // 5] * 5
                per_level[0] += elementaire - sum(per_level)
                rows.append([str(rentree), "HAUTS-DE-FRANCE", "LILLE", "NORD", commune_name, uai, kind, patronyme,
                             secteur, "0", "0", str(classes), str(total), str(maternelle), str(elementaire), "0",
                             *map(str, per_level),
                             f"32-HAUTS-DE-FRANCE-LILLE-NORD-{commune_name}-{uai}", postal])
    rows.sort(key=lambda r: (r[0], r[4], r[5]))
    effectifs_text = "\ufeff" + EXPORT_HEADER + "\n" + "\n".join(";".join(r) for r in rows) + "\n"

    files = {
        "adhesions.csv": adhesions_text,
        "effectifs.csv": effectifs_text,
        "syndicat.toml": SYNDICAT,
        "tarifs.toml": TARIFS,
        "budget.csv": BUDGET,
        "LISEZMOI.md": LISEZMOI,
    }
    for target in TARGETS:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name, text in files.items():
            (target / name).write_bytes(text.encode("utf-8"))
    print(f"{len(members)} communes, {len(rows)} lignes d'effectifs écrites dans {', '.join(str(t) for t in TARGETS)}")


SYNDICAT = """\
# L'émetteur des titres de recettes (l'ordonnateur) et le comptable public qui les recouvre.
[syndicat]
nom = "Syndicat mixte Nord - Pas-de-Calais Numérique"
adresse = "151 avenue du Président Hoover, 59555 Lille Cedex"
siret = "25590019600031"
president = "Christophe COULON"
qualite = "Président"
prefixe_titre = "ENT"
delai_paiement_jours = 30
tribunal = "Tribunal administratif de Lille"
imputation = "7474"

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

[2023]
deliberation = "2022-07 du 14 décembre 2022"
rentree = 2022
mode = "bareme"
part_fixe = "0.00"
part_ecole = "150.00"
part_eleve = "1.10"
plancher = "100.00"
prorata = "jours"
echeance_jours = 30
imputation = "7474"
"""

BUDGET = """\
annee,compte,libelle,montant_prevu
2024,7474,Participations - Communes (contributions ENT),150000.00
2024,7478,Participations - Autres organismes,12000.00
2023,7474,Participations - Communes (contributions ENT),0.00
"""

LISEZMOI = """\
# Données d'exemple d'ent-bill

Le syndicat de la délibération 2024-01 du comité syndical (21 février 2024) : les 91
communes de la Métropole Européenne de Lille dont l'adhésion est approuvée.

| fichier | contenu | réel ou illustratif |
|---|---|---|
| `syndicat.toml` | l'émetteur et le comptable public | nom, adresse, SIRET et président réels ; IBAN illustratif |
| `adhesions.csv` | les 91 communes : les 70 du premier groupe `adherente` au 01/03/2024, les 21 du second groupe `conditionnelle` | communes, codes INSEE et groupes réels ; date d'effet illustrative |
| `effectifs.csv` | l'export « Effectifs d'élèves par école » tel que téléchargé, rentrées 2022 et 2023 | Lys-lez-Lannoy réel (5 écoles, 1 100 élèves en 2023-2024) ; les autres effectifs et les UAI sont illustratifs |
| `tarifs.toml` | les tarifs 2023 et 2024 | illustratifs |
| `budget.csv` | les crédits ouverts au budget primitif | illustratifs |

Les noms de communes sont tapés comme dans la délibération, avec ses coquilles
(« Saily-lez-Lannoy », « Chérengh », « Prêmesques ») : le code INSEE prime, et
ent-bill signale chaque nom qui diffère du référentiel officiel.

Hantay figure à l'article 1 et dans la liste des adhésions conditionnelles : elle est
`conditionnelle`. La plus petite commune du premier groupe n'a qu'une école privée
(ses élèves vont à l'école publique voisine) : elle paie le plancher, avec un
avertissement. Deux communes voisines non membres figurent dans l'export : leurs
effectifs sont ignorés, avec un avertissement.
"""


if __name__ == "__main__":
    main()
