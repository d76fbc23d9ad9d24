"""reconcile: the payments received matched against the ledger's titres (rapprochement_YEAR.xlsx)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from billing.core import problems as P
from billing.core.errors import UserError
from billing.core.problems import BillingError, Problem
from billing.inputs import readers
from billing.year import display_path


@dataclass(frozen=True)
class ReconcileResult:
    reconciliation: object
    path: Path
    warnings: tuple[Problem, ...] = ()

    def summary_lines(self) -> list[str]:
        from billing.core.money import format_euros

        r = self.reconciliation
        t = r.totals
        return [
            f"Rapprochement {r.annee} au {r.as_of.strftime('%d/%m/%Y')}",
            f"  Émis {format_euros(t.emis)} − réduit {format_euros(t.reduit)} = payé {format_euros(t.paye)} "
            f"+ reste {format_euros(t.reste)} − trop-perçu {format_euros(t.trop_percu)}",
            f"  Paiements reçus {format_euros(t.recu)}, non rapprochés {format_euros(t.non_rapproche)}, "
            f"autres exercices {format_euros(t.autres_exercices)}",
            f"  Communes à relancer : {r.reminders.height}",
            f"  Classeur : {self.path}",
        ]

    def as_json(self) -> dict:
        from billing.core.money import cents_to_str

        t = self.reconciliation.totals
        return {"ok": True, "annee": self.reconciliation.annee, "emis": cents_to_str(t.emis),
                "reduit": cents_to_str(t.reduit), "paye": cents_to_str(t.paye), "reste": cents_to_str(t.reste),
                "trop_percu": cents_to_str(t.trop_percu), "non_rapproche": cents_to_str(t.non_rapproche),
                "relances": self.reconciliation.reminders.height, "fichier": str(self.path),
                "avertissements": [p.as_dict() for p in self.warnings]}


def reconcile_year(inputs_dir: Path, annee: int, *, out_dir: Path, ledger_path: Path,
                   as_of: date | None = None) -> ReconcileResult:
    """Match paiements.csv against the ledger's titres and write rapprochement_<year>.xlsx.

    A payment that cannot be matched (an unknown titre number…) is set aside in « Non
    rapprochés » with a warning (``ReconcileResult.warnings``); only unreadable data stops the run.
    """
    from datetime import datetime

    from billing.inputs import config
    from billing.render.rapprochement import write_rapprochement
    from billing.ledger.store import open_ledger

    inputs_dir = Path(inputs_dir)
    if not Path(ledger_path).exists():
        raise UserError(f"aucun registre des titres ({ledger_path}) : émettez d'abord les titres avec "
                        f"« ent-bill issue {annee} »")
    with open_ledger(ledger_path, readonly=True) as ledger:
        titres = ledger.titres()
    if not any(t.exercice == annee for t in titres):
        raise UserError(f"aucun titre émis pour {annee} dans {ledger_path}")
    path, problems = readers.find_input(inputs_dir, "paiements")
    if path is None:
        raise BillingError(problems or [P.error(f"{inputs_dir.name}/paiements.csv", None, None,
                                              "fichier des paiements absent (numero_titre, date, montant, "
                                              "code_insee, reference)")])
    syndicat, found = config.read_syndicat(inputs_dir / "syndicat.toml",
                                           display=display_path(inputs_dir / "syndicat.toml", inputs_dir))
    problems += found
    result, found = _match(path, inputs_dir, annee, titres, as_of=as_of or date.today())
    problems += found
    if P.errors_of(problems) or syndicat is None or result is None:
        raise BillingError(problems)
    out = write_rapprochement(Path(out_dir) / f"rapprochement_{annee}.xlsx", reconciliation=result,
                              syndicat=syndicat, annee=annee, generated_at=datetime.now().replace(microsecond=0))
    return ReconcileResult(result, out, tuple(P.sort_problems(P.warnings_of(problems))))


def check_payments(inputs_dir: Path, annee: int, ledger_path: Path) -> list[Problem]:
    """Every problem of the year's paiements.csv/.xlsx, as ``reconcile`` would find them (for ``validate``).

    With a ledger holding titres of ``annee``, the numbers and communes are checked against it
    and the payments matched (an unknown number is a warning, as in ``reconcile``); without one,
    only the form of each cell: the numbers cannot be known before ``issue``. No paiements file, no problem.
    """
    from billing.ledger.store import open_ledger

    inputs_dir = Path(inputs_dir)
    path, problems = readers.find_input(inputs_dir, "paiements")
    if path is None:
        return problems
    titres = []
    if Path(ledger_path).exists():
        with open_ledger(ledger_path, readonly=True) as ledger:
            titres = ledger.titres()
    if not any(t.exercice == annee for t in titres):
        from billing.inputs.payments import read_payments

        _, found = read_payments(path, display=display_path(path, inputs_dir), annee=annee, known_titres=None,
                                 known_communes=None)
        return P.sort_problems([*problems, *found])
    _, found = _match(path, inputs_dir, annee, titres, as_of=date.today())
    return P.sort_problems([*problems, *found])


def _match(path: Path, inputs_dir: Path, annee: int, titres: list, *, as_of: date):
    """Read the payments against the ledger's titres and match them; (None, problems) when a row is in error."""
    from billing.core.reconcile import reconcile
    from billing.inputs.payments import read_payment_file

    read = read_payment_file(path, display=display_path(path, inputs_dir), annee=annee,
                             known_titres={t.numero for t in titres},
                             known_communes={t.code_insee for t in titres},
                             titre_exercices={t.numero: t.exercice for t in titres},
                             commune_names={t.code_insee: t.commune for t in titres})
    frame = pl.DataFrame([{"numero": t.numero, "exercice": t.exercice, "code_insee": t.code_insee,
                           "commune": t.commune, "nature": t.nature, "origine_numero": t.origine_numero,
                           "montant_cents": t.montant_cents, "date_emission": t.date_emission,
                           "date_echeance": t.date_echeance} for t in titres],
                         schema={"numero": pl.Utf8, "exercice": pl.Int64, "code_insee": pl.Utf8, "commune": pl.Utf8,
                                 "nature": pl.Utf8, "origine_numero": pl.Utf8, "montant_cents": pl.Int64,
                                 "date_emission": pl.Date, "date_echeance": pl.Date})
    # the rows read cleanly are matched even when another row is in error: every problem is reported at once
    result = reconcile(frame, read.frame, annee=annee, as_of=as_of, columns=read.headers)
    return (None if P.errors_of(read.problems) else result), [*read.problems, *result.problems]
