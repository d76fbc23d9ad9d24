"""Write a schema-1 ledger with the code of main before bordereaux were wired (run once, kept gzipped)."""
import sys
from datetime import date
from billing.core.corrections import Claim
from billing.ledger.store import RunInfo, open_ledger, SCHEMA_VERSION
assert SCHEMA_VERSION == 1
path = sys.argv[1]
line = lambda c: {"ordre": 1, "code": "ENT", "libelle": "ENT", "quantite": 1, "taux_units": c, "montant_cents": c, "formule": "forfait", "detail": None}
def run(ledger, annee, claims, day):
    return ledger.issue_claims([Claim(code, f"Commune {code}", c, (line(c),)) for code, c in claims], annee=annee,
        prefixe="ENT", run=RunInfo.new(annee, version="schema1"), date_emission=day, date_echeance=None,
        deliberation="2023-05", objet=f"Contribution {annee}", imputation="Compte 7474")
with open_ledger(path) as ledger:
    run(ledger, 2024, [("59001", 10000), ("59002", 20000), ("59003", 30000)], date(2024, 3, 1))  # T1: 3 titres
    run(ledger, 2024, [("59001", 12500), ("59002", 15000)], date(2024, 6, 1))  # T2: 1 compl., R1: 1 réduction + annulation 59003
    run(ledger, 2023, [("59001", 5000)], date(2023, 3, 1))
    run(ledger, 2024, [("59001", 12500), ("59002", 15000), ("59004", 4000)], date(2024, 9, 1))  # T3: 1 titre
    for t in ledger.titres():
        print(t.exercice, t.seq, t.nature, t.code_insee, t.montant_cents, t.run_id[:6])
