"""issue: the prepared year (billing.year) planned against the ledger, numbered in one
transaction, then rendered from the ledger after the commit; verify and list what was issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Sequence

import polars as pl

from billing.compute import write_summary
from billing.core.errors import UserError
from billing.core.problems import BillingError, Code
from billing.exports import after_issue
from billing.documents import (claims_of, debtor_facts, due_date_for, imputation_for, issue_date_for,
                               issue_date_warning, ledger_sirets, notice_for_titre, objet_for,
                               recorded_sirets)
from billing.year import prepare_year


LISTED = 200  # pièces listed one per line by issue's summary; the rest are counted


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
    date_note: str | None = None  # the titres are (or would be) dated outside their exercice
    notes: tuple[str, ...] = ()  # what the PES export says (not configured, or what stopped a file)
    skipped: tuple = ()  # titres and compléments below the seuil de recouvrement, not issued (DESIGN §4b)
    seuil_cents: int = 0
    fiscalised: tuple = ()  # (code_insee, commune, montant_cents) of the members paying through local taxes

    def summary_lines(self) -> list[str]:
        from billing.core.corrections import NATURE_LABELS as labels
        from billing.core.money import format_euros

        items = self.planned if self.dry_run else self.issued
        head = "Simulation d'émission (--dry-run) : rien n'est écrit" if self.dry_run else f"Émission {self.annee}"
        lines = [head]
        if self.date_note:
            lines.append(f"  Attention : {self.date_note}.")
        if not items:
            lines.append("  Rien à émettre : le registre correspond déjà au calcul (aucun titre en double).")
        for item in items[:LISTED]:
            numero = getattr(item, "numero", "(à numéroter)")
            origin = f" (sur {item.origine_numero})" if item.origine_numero else ""
            lines.append(f"  {numero:<16} {labels[item.nature]:<22} {item.code_insee} {item.commune:<28} "
                         f"{format_euros(item.montant_cents):>14}{origin}")
        if len(items) > LISTED:  # a national run: the full list is in titres_YEAR.csv (and in --json)
            lines.append(f"  … et {len(items) - LISTED} autre(s) : la liste complète est dans "
                         f"titres_{self.annee}.csv (ou avec --json)")
        lines += self.not_issued_lines()
        if self.dry_run and items:
            net = sum(item.signed_cents for item in items)
            lines.append(f"  Total : {len(items)} pièce(s) à émettre, net {format_euros(net)}")
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
            lines.extend(f"  {note}" for note in self.notes)
        return lines

    def not_issued_lines(self) -> list[str]:
        """What is owed but not titled, and why: below the seuil, or levied through local taxes."""
        from billing.core.money import format_euros

        lines = []
        if self.skipped:
            total = sum(item.montant_cents for item in self.skipped)
            names = ", ".join(f"{item.commune} ({format_euros(item.montant_cents)})" for item in self.skipped[:10])
            more = f" et {len(self.skipped) - 10} autres" if len(self.skipped) > 10 else ""
            lines.append(f"  Sous le seuil de recouvrement ({format_euros(self.seuil_cents)}, CGCT D1611-1) : "
                         f"{len(self.skipped)} titre(s) non émis, {format_euros(total)} en tout, qui restent dus "
                         f"et seront titrés quand l'écart atteindra le seuil : {names}{more}")
        if self.fiscalised:
            total = sum(cents for _, _, cents in self.fiscalised)
            lines.append(f"  Contributions fiscalisées (CGCT L5212-20) : {len(self.fiscalised)} membre(s), "
                         f"{format_euros(total)}, sans avis ni titre")
        return lines

    def as_json(self) -> dict:
        from billing.core.money import cents_to_str

        items = self.planned if self.dry_run else self.issued
        return {"ok": True, "annee": self.annee, "simulation": self.dry_run,
                "titres": [{"numero": getattr(t, "numero", None), "nature": t.nature, "code_insee": t.code_insee,
                            "commune": t.commune, "montant": cents_to_str(t.montant_cents),
                            "origine": t.origine_numero} for t in items],
                "fichiers": {k: str(v) for k, v in self.files.items()},
                "empreinte": None if self.dry_run else chain_anchor(self.all_titres),
                "sous_seuil": [{"code_insee": t.code_insee, "commune": t.commune, "nature": t.nature,
                                "montant": cents_to_str(t.montant_cents)} for t in self.skipped],
                "fiscalisees": [{"code_insee": code, "commune": commune, "montant": cents_to_str(cents)}
                                for code, commune, cents in self.fiscalised]}


def chain_anchor(titres) -> str | None:
    """« NUMÉRO:empreinte » of the exercice's last titre: kept outside the ledger (on the bordereau sent to
    the comptable), it lets ``verify`` prove later that no titre up to that one was rewritten."""
    if not titres:
        return None
    last = max(titres, key=lambda t: t.seq)
    return f"{last.numero}:{last.hash}"


def issue(inputs_dir: Path, annee: int, *, out_dir: Path, ledger_path: Path, dry_run: bool = False, progress=None,
          today: date | None = None, hors_exercice: bool = False, pdf: bool = False,
          date_emission: date | None = None) -> IssueResult:
    """Plan against the ledger, number in one transaction, then render from the ledger (re-rendering any missing).

    Definitive titres dated outside their exercice are refused unless ``hors_exercice`` confirms it.
    """
    from billing.core.corrections import plan_titres
    from billing.ledger.store import check_chain_before_issue
    from billing.render.outdir import ensure_output_dir, rendering_after_commit

    # Before anything is computed or numbered: a writable --out, an unaltered exercice in the ledger.
    ensure_output_dir(out_dir, inputs_dir)
    check_chain_before_issue(ledger_path, annee)
    data = prepare_year(inputs_dir, annee)
    if date_emission is not None:  # --date: this run's titres (a later run's corrections) carry the date asked
        from dataclasses import replace

        data = replace(data, tariff=replace(data.tariff, date_emission=date_emission))
    claims = claims_of(data.priced, data.debtors)
    not_titled = _not_titled(data, claims, ledger_path, annee)
    date_note = issue_date_warning(annee, issue_date_for(data.tariff, today), fixed=data.tariff.date_emission is not None)
    if dry_run:
        existing = issued_titres(ledger_path, annee) if Path(ledger_path).exists() else []
        planned = plan_titres(claims, existing)
        return IssueResult(annee, (), tuple(planned), tuple(existing), Path(out_dir), {}, 0, True, data.warnings,
                           date_note, **not_titled)
    if date_note and not hors_exercice:
        raise BillingError.single(
            f"émission refusée : {date_note}", code=Code.INVALID,
            suggestion=f"Fixez la date des titres dans tarifs.toml ([{annee}] date_emission = {annee}-MM-JJ), "
                       f"ou confirmez cette date avec « ent-bill issue {annee} --hors-exercice ».")
    issued, all_titres = commit_titres(data, claims, ledger_path=ledger_path, today=today)
    # The ledger is committed: from here on, files can always be rendered again from it.
    with rendering_after_commit(len(issued)):  # a failure here exits 1 saying the titres exist and how to render
        rendered, files = render_issued(data, all_titres, out_dir=Path(out_dir), ledger_path=ledger_path,
                                        progress=progress, pdf=pdf or data.syndicat.wants_pdf)
        # the run's signed bordereaux and PES files (billing.exports), numbered in the same transaction
        run_files, notes = after_issue(data, issued, all_titres, out_dir=Path(out_dir), ledger_path=ledger_path)
    return IssueResult(annee, tuple(issued), (), tuple(all_titres), Path(out_dir), {**files, **run_files}, rendered,
                       False, data.warnings, date_note, tuple(notes), **not_titled)


def _not_titled(data, claims, ledger_path: Path, annee: int) -> dict:
    """The IssueResult fields of what is owed and not titled (below the seuil; fiscalised members)."""
    from billing.core.corrections import below_seuil

    existing = issued_titres(ledger_path, annee, lines=False) if Path(ledger_path).exists() else []
    contributions = data.priced.contributions
    fiscal = contributions.filter((pl.col("situation") == "facturee") & (pl.col("mode_contribution") == "fiscalisee"))
    return {"skipped": tuple(below_seuil(claims, existing)), "seuil_cents": data.tariff.seuil_cents,
            "fiscalised": tuple(fiscal.select("code_insee", "commune", "montant_cents").iter_rows())}


def commit_titres(data, claims, *, ledger_path: Path, today: date | None) -> tuple[list, list]:
    """What the claims need beyond what was issued, numbered and recorded in one ledger transaction."""
    from billing import __version__
    from billing.ledger.store import RunInfo, open_ledger

    emission = issue_date_for(data.tariff, today)
    with open_ledger(ledger_path) as ledger:
        from billing.core.corrections import plan_titres

        # Planned from the full titres (their stored lines give each correction its motif); the ledger
        # checks the plan again inside its transaction, so a run that issued meanwhile cannot double it.
        existing = ledger.titres(data.annee)
        planned = plan_titres(claims, existing, ledger.member_parts(data.annee))
        recorded = ledger.recorded_sirets(data.annee)
        facts = debtor_facts(data, {p.code_insee for p in planned}, recorded)
        issued = ledger.issue(
            planned, annee=data.annee, prefixe=data.syndicat.prefixe_titre,
            run=RunInfo.new(data.annee, version=__version__, input_hashes=data.input_hashes),
            date_emission=emission, date_echeance=due_date_for(data.tariff, emission),
            deliberation=data.tariff.deliberation, objet=objet_for(data.annee),
            imputation=imputation_for(data.tariff, data.syndicat),
            sirets={code: f["siret"] for code, f in facts.items() if f.get("siret")})
    # read once the ledger is closed: DuckDB's working memory of the insert (some 170 MB nationally) is freed
    return issued, _year_after(ledger_path, data.annee, existing, issued)


def _year_after(ledger_path: Path, annee: int, existing: list, issued: list) -> list:
    """The exercice's titres after this run: those read before it and those it issued (whose lines are the
    plan's own), without decoding every stored line again (some 200 MB on a national year); read again in
    full only if the ledger holds anything else (a titre issued by another run in between)."""
    combined = sorted([*existing, *issued], key=lambda t: t.seq)
    stored = [(t.numero, t.hash) for t in issued_titres(ledger_path, annee, lines=False)]
    if stored == [(t.numero, t.hash) for t in combined]:
        return combined
    return issued_titres(ledger_path, annee)


def render_issued(data, all_titres, *, out_dir: Path, ledger_path: Path, progress=None,
                  pdf: bool = False) -> tuple[int, dict]:
    """Every missing notice of the exercice (workbook, and PDF when asked), the titres CSV, the bordereau and the
    summary, from the ledger. The notices are written by worker processes while this one writes the tables."""
    from billing.render.notice import notice_filename, start_notices

    annee = data.annee
    avis_dir = out_dir / "avis"
    avis_dir.mkdir(parents=True, exist_ok=True)
    # the SIRET each titre was issued with, before titres_YEAR.csv is written again from today's facts
    recorded = {**recorded_sirets(out_dir / f"titres_{annee}.csv", all_titres), **ledger_sirets(ledger_path, annee)}
    facts = debtor_facts(data, {t.code_insee for t in all_titres}, recorded)
    origin_dates = {t.numero: t.date_emission for t in all_titres}
    notices = [notice_for_titre(t, data, facts, origin_dates) for t in all_titres]
    missing = [n for n in notices if not (avis_dir / notice_filename(n)).exists()]
    report = progress or (lambda stage, done, total: None)
    with start_notices(missing, avis_dir, progress=lambda done: report("Avis émis", done, len(missing))):
        files = _issued_tables(data, all_titres, facts, out_dir=out_dir, ledger_path=ledger_path)
    if pdf:
        from billing.render.notice_pdf import pdf_filename, write_pdf_notices

        missing_pdf = [n for n in notices if not (avis_dir / pdf_filename(n)).exists()]
        write_pdf_notices(missing_pdf, avis_dir, progress=lambda done: report("Avis PDF", done, len(missing_pdf)))
    issued_codes = {t.code_insee for t in all_titres}
    for draft in [*avis_dir.glob("PROJET*.xlsx"), *avis_dir.glob("PROJET*.pdf")]:
        if draft.name.split("_")[1] in issued_codes:
            draft.unlink()  # a draft must not sit beside the titre that replaced it
    return len(missing), files


def _issued_tables(data, all_titres, facts: dict, *, out_dir: Path, ledger_path: Path) -> dict[str, Path]:
    """titres_YEAR.csv (and its Excel copy), the yearly bordereau and the summary."""
    from datetime import datetime

    from billing.render.bordereau import write_bordereau, write_titres_csv, write_titres_excel_csv

    annee = data.annee
    sirets = {c: f.get("siret") for c, f in facts.items()}
    debtors = {c: f.get("debiteur") for c, f in facts.items()}
    generated_at = datetime.now().replace(microsecond=0)
    competences = bool(data.tariff.competences)  # DESIGN §4c: one CSV row per titre and competence
    files = {
        "Titres (CSV)": write_titres_csv(out_dir / f"titres_{annee}.csv", titres=all_titres, sirets=sirets,
                                         debtors=debtors, code_debiteur=data.debtors is not None,
                                         competences=competences),
        "Titres (CSV Excel)": write_titres_excel_csv(out_dir / f"titres_{annee}_excel.csv", titres=all_titres,
                                                     sirets=sirets, debtors=debtors,
                                                     code_debiteur=data.debtors is not None,
                                                     competences=competences),
        "Bordereau": write_bordereau(out_dir / f"bordereau_{annee}.xlsx", annee=annee, titres=all_titres,
                                     sirets=sirets, debtors=debtors, issuer=data.syndicat.nom,
                                     generated_at=generated_at, competences=competences),
    }
    summary = write_summary(data, out_dir=out_dir, ledger_path=ledger_path, generated_at=generated_at)
    if summary is not None:
        files["Synthèse budgétaire"] = summary
    return files


@dataclass(frozen=True)
class VerifyResult:
    findings: tuple[str, ...]  # empty = intact
    count: int
    anchors: tuple[str, ...]  # the current « NUMÉRO:empreinte » of each exercice, to compare with the bordereaux


def parse_anchor(text: str) -> tuple[str | None, str]:
    """« ENT-2024-0071:3f…9a » or the bare 64-hex-digit empreinte -> (numero or None, empreinte)."""
    numero, _, digest = text.strip().rpartition(":")
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise UserError(f"cette empreinte n'est pas au bon format : « {text} » ; attendu NUMÉRO:empreinte comme "
                        "imprimé sur le bordereau (64 caractères 0-9 a-f après les deux-points)")
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
        titres = ledger.titres(lines=False)  # unreadable lines are among verify's findings, not a crash
    by_hash = {t.hash: t for t in titres}
    by_number = {t.numero: t for t in titres}
    for text, numero, digest in wanted:
        found = by_hash.get(digest)
        if found is None and numero in by_number:
            findings.append(f"l'empreinte saisie pour {numero} ({digest[:12]}…) diffère de celle du registre "
                            f"({by_number[numero].hash[:12]}…) : vérifiez d'abord la saisie contre le bordereau, "
                            f"caractère par caractère ; si elle est exacte, le registre a été réécrit")
        elif found is None:
            findings.append(f"aucun titre du registre ne porte l'empreinte {digest[:16]}… conservée "
                            f"({numero or 'sans numéro'}) : vérifiez la saisie ; si elle est exacte, le registre "
                            f"a été réécrit ou remplacé")
        elif numero is not None and found.numero != numero:
            findings.append(f"l'empreinte conservée pour {numero} est celle de {found.numero} dans le registre")
    by_year: dict[int, list] = {}
    for t in titres:
        by_year.setdefault(t.exercice, []).append(t)
    current = tuple(chain_anchor(by_year[year]) for year in sorted(by_year))
    return VerifyResult(tuple(findings), len(titres), current)


def issued_titres(ledger_path: Path, annee: int, *, lines: bool = True) -> list:
    """The titres issued for ``annee``, in number order (``lines=False``: without decoding their lines,
    for what needs only amounts and numbers: a national year's lines weigh some 200 MB)."""
    from billing.ledger.store import open_ledger

    with open_ledger(ledger_path, readonly=True) as ledger:
        return ledger.titres(annee, lines=lines)
