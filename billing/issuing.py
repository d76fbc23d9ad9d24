"""After compute: issuing titres into the ledger, re-rendering them, and reconciling payments.

The same one-way flow as ``pipeline`` (load_year -> price), continued: plan and number
in one ledger transaction, render from the ledger after the commit, match payments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Sequence

import polars as pl

from billing.core import problems as P
from billing.pipeline import (YearData, display_path, fondement_for, imputation_for, issue_date_for, load_year,
                              objet_for, write_summary)
from billing.core.problems import InputError



def claims_of(priced) -> list:
    """What each billed commune owes now, with its lines (prorata lines carry their factor)."""
    from billing.core.corrections import Claim

    factors = {r["code_insee"]: (r["facteur_num"], r["facteur_den"])
               for r in priced.contributions.iter_rows(named=True)}
    lines: dict[str, list[dict]] = {}
    for line in priced.lines.iter_rows(named=True):
        item = {k: line[k] for k in ("ordre", "code", "libelle", "quantite", "taux_units", "montant_cents",
                                      "formule", "detail")}
        if line["formule"] == "prorata":
            item["facteur_num"], item["facteur_den"] = factors[line["code_insee"]]
        lines.setdefault(line["code_insee"], []).append(item)
    billed = priced.contributions.filter(pl.col("situation") == "facturee")
    return [Claim(r["code_insee"], r["commune"], r["montant_cents"], tuple(lines.get(r["code_insee"], ())))
            for r in billed.iter_rows(named=True)]


def notice_for_titre(titre, data: YearData, facts: dict[str, dict]):
    """The notice of an issued titre, rebuilt from the ledger alone (plus the debtor's address)."""
    from billing.render.notice import Notice, NoticeLine

    debtor = facts.get(titre.code_insee, {})
    lines = tuple(NoticeLine(libelle=l["libelle"], detail=l.get("detail"), quantite=l.get("quantite"),
                             taux_units=l.get("taux_units"), montant_cents=l["montant_cents"], formule=l["formule"],
                             facteur_num=l.get("facteur_num"), facteur_den=l.get("facteur_den"))
                  for l in titre.lines)
    origin_date = None
    if titre.origine_numero:
        origin_date = facts.get("__dates__", {}).get(titre.origine_numero)
    return Notice(
        numero=titre.numero, nature=titre.nature, origine_numero=titre.origine_numero, origine_date=origin_date,
        annee=titre.exercice, date_emission=titre.date_emission, date_echeance=titre.date_echeance,
        objet=titre.objet or objet_for(titre.exercice), fondement=fondement_for(data.tariff),
        rentree=data.tariff.rentree, imputation=titre.imputation or imputation_for(data.tariff, data.syndicat),
        debiteur_nom=debtor.get("debiteur") or f"Commune de {titre.commune}", debiteur_code_insee=titre.code_insee,
        debiteur_adresse=debtor.get("mairie_adresse") or "", debiteur_siret=debtor.get("siret"), lines=lines,
        total_cents=titre.montant_cents, syndicat=data.syndicat)


@dataclass(frozen=True)
class IssueResult:
    annee: int
    issued: tuple
    planned: tuple
    all_titres: tuple
    out_dir: Path
    files: dict
    rendered: int
    dry_run: bool
    warnings: tuple

    def summary_lines(self) -> list[str]:
        from billing.core.corrections import NATURE_LABELS as labels
        from billing.core.money import format_euros

        items = self.planned if self.dry_run else self.issued
        head = "Simulation d'émission (--dry-run) : rien n'est écrit" if self.dry_run else f"Émission {self.annee}"
        lines = [head]
        if not items:
            lines.append("  Rien à émettre : le registre correspond déjà au calcul (aucun titre en double).")
        for item in items:
            numero = getattr(item, "numero", "(à numéroter)")
            origin = f" (sur {item.origine_numero})" if item.origine_numero else ""
            lines.append(f"  {numero:<16} {labels[item.nature]:<22} {item.code_insee} {item.commune:<28} "
                         f"{format_euros(item.montant_cents):>14}{origin}")
        if not self.dry_run:
            net = sum(t.signed_cents for t in self.all_titres)
            lines.append(f"  Titres de l'exercice : {len(self.all_titres)}, net émis {format_euros(net)}")
            anchor = chain_anchor(self.all_titres)
            if anchor:
                lines.append(f"  Empreinte à conserver : {anchor}")
                lines.append("    (imprimée sur le bordereau ; « ent-bill verify --empreinte <empreinte> » prouvera "
                             "que rien n'a été réécrit)")
            if self.rendered:
                lines.append(f"  Avis écrits : {self.rendered} dans {self.out_dir / 'avis'}/")
            for label, path in self.files.items():
                lines.append(f"  {label:<24}: {path}")
        return lines

    def as_json(self) -> dict:
        from billing.core.money import cents_to_str

        items = self.planned if self.dry_run else self.issued
        return {"ok": True, "annee": self.annee, "simulation": self.dry_run,
                "titres": [{"numero": getattr(t, "numero", None), "nature": t.nature, "code_insee": t.code_insee,
                            "commune": t.commune, "montant": cents_to_str(t.montant_cents),
                            "origine": t.origine_numero} for t in items],
                "fichiers": {k: str(v) for k, v in self.files.items()},
                "empreinte": None if self.dry_run else chain_anchor(self.all_titres)}


def chain_anchor(titres) -> str | None:
    """« NUMÉRO:empreinte » of the exercice's last titre: kept outside the ledger (on the bordereau sent to
    the comptable), it lets ``verify`` prove later that no titre up to that one was rewritten."""
    if not titres:
        return None
    last = max(titres, key=lambda t: t.seq)
    return f"{last.numero}:{last.hash}"


def issue(inputs_dir: Path, annee: int, *, out_dir: Path, ledger_path: Path, dry_run: bool = False, progress=None,
          today: date | None = None) -> IssueResult:
    """Number the titres in one ledger transaction, then render their notices (re-rendering any missing)."""
    from datetime import timedelta

    from billing import __version__
    from billing.core.corrections import plan_titres
    from billing.core.pricing import price_year
    from billing.ledger.store import RunInfo, open_ledger

    # [issue 13] before anything is computed or numbered: a writable --out, an unaltered exercice in the ledger
    from billing.render.outdir import ensure_output_dir, rendering_after_commit
    from billing.ledger.store import check_chain_before_issue
    ensure_output_dir(out_dir, inputs_dir)
    check_chain_before_issue(ledger_path, annee)
    data = load_year(inputs_dir, annee)
    priced = price_year(data.billing_base, data.tariff, annee=annee)
    claims = claims_of(priced)
    emission = issue_date_for(data.tariff, today)
    due = emission + timedelta(days=data.tariff.echeance_jours)
    if dry_run:
        existing = []
        if Path(ledger_path).exists():
            with open_ledger(ledger_path, readonly=True) as ledger:
                existing = ledger.titres(annee)
        planned = plan_titres(claims, existing)
        return IssueResult(annee, (), tuple(planned), tuple(existing), Path(out_dir), {}, 0, True, data.warnings)
    with open_ledger(ledger_path) as ledger:
        issued = ledger.issue_claims(
            claims, annee=annee, prefixe=data.syndicat.prefixe_titre,
            run=RunInfo.new(annee, version=__version__, input_hashes=data.input_hashes),
            date_emission=emission, date_echeance=due, deliberation=data.tariff.deliberation,
            objet=objet_for(annee), imputation=imputation_for(data.tariff, data.syndicat))
        all_titres = ledger.titres(annee)
    # The ledger is committed: from here on, files can always be rendered again from it.
    with rendering_after_commit(len(issued)):  # [issue 13] a failure below exits 1 saying the titres exist
        return _render_issued(data, priced, issued, all_titres, annee=annee, out_dir=out_dir,
                              ledger_path=ledger_path, progress=progress)


def _render_issued(data, priced, issued, all_titres, *, annee: int, out_dir: Path, ledger_path: Path,
                   progress) -> "IssueResult":
    """[issue 13] The post-commit half of ``issue``, moved as is so one guard can wrap it."""
    from datetime import datetime

    from billing.inputs.register import load_register
    from billing.render.bordereau import write_bordereau, write_titres_csv
    from billing.render.notice import notice_filename, write_notices

    out_dir = Path(out_dir)
    avis_dir = out_dir / "avis"
    avis_dir.mkdir(parents=True, exist_ok=True)
    register = load_register()
    facts = {r["code_insee"]: r for r in register.facts_frame({t.code_insee for t in all_titres}).iter_rows(named=True)}
    for row in data.billing_base.select("code_insee", "siret").iter_rows(named=True):
        if row["code_insee"] in facts and row["siret"]:
            facts[row["code_insee"]]["siret"] = row["siret"]
    facts["__dates__"] = {t.numero: t.date_emission for t in all_titres}
    notices = [notice_for_titre(t, data, facts) for t in all_titres]
    missing = [n for n in notices if not (avis_dir / notice_filename(n)).exists()]
    report = progress or (lambda stage, done, total: None)
    write_notices(missing, avis_dir, progress=lambda done: report("Avis émis", done, len(missing)))
    issued_codes = {t.code_insee for t in all_titres}
    for draft in avis_dir.glob("PROJET_*.xlsx"):
        if draft.name.split("_")[1] in issued_codes:
            draft.unlink()  # a draft must not sit beside the titre that replaced it
    sirets = {c: f.get("siret") for c, f in facts.items() if c != "__dates__"}
    debtors = {c: f.get("debiteur") for c, f in facts.items() if c != "__dates__"}
    generated_at = datetime.now().replace(microsecond=0)
    files = {
        "Titres (CSV)": write_titres_csv(out_dir / f"titres_{annee}.csv", titres=all_titres, sirets=sirets,
                                         debtors=debtors),
        "Bordereau": write_bordereau(out_dir / f"bordereau_{annee}.xlsx", annee=annee, titres=all_titres,
                                     sirets=sirets, debtors=debtors, issuer=data.syndicat.nom,
                                     generated_at=generated_at),
    }
    summary = write_summary(data, priced, out_dir=out_dir, ledger_path=ledger_path, generated_at=generated_at)
    if summary is not None:
        files["Synthèse budgétaire"] = summary
    return IssueResult(annee, tuple(issued), (), tuple(all_titres), out_dir, files, len(missing), False,
                       data.warnings)


@dataclass(frozen=True)
class ReconcileResult:
    reconciliation: object
    path: Path

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
                "relances": self.reconciliation.reminders.height, "fichier": str(self.path)}


def reconcile_year(inputs_dir: Path, annee: int, *, out_dir: Path, ledger_path: Path,
                   as_of: date | None = None) -> ReconcileResult:
    """Match paiements.csv against the ledger's titres and write rapprochement_<year>.xlsx."""
    from datetime import datetime

    from billing.inputs import config
    from billing.inputs import readers
    from billing.core.errors import UserError
    from billing.inputs.payments import read_payments
    from billing.core.reconcile import reconcile
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
        raise InputError(problems or [P.error(f"{inputs_dir.name}/paiements.csv", None, None,
                                              "fichier des paiements absent (numero_titre, date, montant, "
                                              "code_insee, reference)")])
    syndicat, found = config.read_syndicat(inputs_dir / "syndicat.toml",
                                           display=display_path(inputs_dir / "syndicat.toml", inputs_dir))
    problems += found
    payments, found = read_payments(path, display=display_path(path, inputs_dir), annee=annee,
                                    known_titres={t.numero for t in titres},
                                    known_communes={t.code_insee for t in titres},
                                    titre_exercices={t.numero: t.exercice for t in titres},
                                    commune_names={t.code_insee: t.commune for t in titres})
    problems += found
    if P.errors_of(problems) or syndicat is None:
        raise InputError(problems)
    frame = pl.DataFrame([{"numero": t.numero, "exercice": t.exercice, "code_insee": t.code_insee,
                           "commune": t.commune, "nature": t.nature, "origine_numero": t.origine_numero,
                           "montant_cents": t.montant_cents, "date_emission": t.date_emission,
                           "date_echeance": t.date_echeance} for t in titres],
                         schema={"numero": pl.Utf8, "exercice": pl.Int64, "code_insee": pl.Utf8, "commune": pl.Utf8,
                                 "nature": pl.Utf8, "origine_numero": pl.Utf8, "montant_cents": pl.Int64,
                                 "date_emission": pl.Date, "date_echeance": pl.Date})
    result = reconcile(frame, payments, annee=annee, as_of=as_of or date.today())
    if P.errors_of(result.problems):
        raise InputError(result.problems)
    out = write_rapprochement(Path(out_dir) / f"rapprochement_{annee}.xlsx", reconciliation=result,
                              syndicat=syndicat, annee=annee, generated_at=datetime.now().replace(microsecond=0))
    return ReconcileResult(result, out)


@dataclass(frozen=True)
class VerifyResult:
    findings: tuple[str, ...]  # empty = intact
    count: int
    anchors: tuple[str, ...]  # the current « NUMÉRO:empreinte » of each exercice, to compare with the bordereaux


def parse_anchor(text: str) -> tuple[str | None, str]:
    """« ENT-2024-0071:3f…9a » or the bare 64-hex-digit empreinte -> (numero or None, empreinte)."""
    from billing.core.errors import UserError

    numero, _, digest = text.strip().rpartition(":")
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise UserError(f"empreinte « {text} » illisible : attendu NUMÉRO:empreinte comme imprimé sur le bordereau "
                        "(64 caractères hexadécimaux après les deux-points)")
    return numero or None, digest


def verify_ledger(ledger_path: Path, *, anchors: Sequence[str] = ()) -> VerifyResult:
    """The ledger's self-check, plus each empreinte kept outside it (from a bordereau) found where it was.

    The self-check alone cannot see a ledger rewritten from scratch with a consistent chain;
    a kept empreinte can: the titre it names must still carry it.
    """
    from billing.ledger.store import open_ledger

    wanted = [(text, *parse_anchor(text)) for text in anchors]
    with open_ledger(ledger_path, readonly=True) as ledger:
        findings = ledger.verify()
        titres = ledger.titres(lines=False)  # [issue 13] verify lists unreadable lines among its findings
    by_hash = {t.hash: t for t in titres}
    for text, numero, digest in wanted:
        found = by_hash.get(digest)
        if found is None:
            findings.append(f"aucun titre du registre ne porte l'empreinte {digest[:16]}… conservée "
                            f"({numero or 'sans numéro'}) : le registre a été réécrit ou remplacé")
        elif numero is not None and found.numero != numero:
            findings.append(f"l'empreinte conservée pour {numero} est celle de {found.numero} dans le registre")
    by_year: dict[int, list] = {}
    for t in titres:
        by_year.setdefault(t.exercice, []).append(t)
    current = tuple(chain_anchor(by_year[year]) for year in sorted(by_year))
    return VerifyResult(tuple(findings), len(titres), current)


def issued_titres(ledger_path: Path, annee: int) -> list:
    """The titres issued for ``annee``, in number order."""
    from billing.ledger.store import open_ledger

    with open_ledger(ledger_path, readonly=True) as ledger:
        return ledger.titres(annee)
