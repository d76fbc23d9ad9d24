"""compute: the priced year written as drafts, tables and the summary; nothing is issued.

Nothing is written when an error stands: the year is prepared (billing.year) and compared
with the ledger before the first file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from billing.core.pricing import Priced
from billing.core.problems import BillingError, Problem
from billing.year import YearData, prepare_year


@dataclass(frozen=True)
class ComputeResult:
    """What `compute` produced: the priced year and where its files are."""

    data: YearData
    out_dir: Path
    outputs: dict
    notices: tuple[Path, ...]
    differences: tuple = ()  # (code_insee, commune, issued_cents, computed_cents) against the ledger
    ledger_note: str | None = None  # why the ledger could not be compared, if it could not
    date_note: str | None = None    # the drafts are dated outside the exercice
    corrections: tuple | None = None  # after issue: what `issue` would emit now (empty: nothing to correct)

    @property
    def priced(self) -> Priced:
        return self.data.priced

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return self.data.warnings

    def totals(self) -> dict:
        c = self.data.priced.contributions
        billed = c.filter(pl.col("situation") == "facturee")
        indicative = c.filter(pl.col("situation") == "indicative")
        return {
            "communes": c.height,
            "facturees": billed.height,
            "indicatives": indicative.height,
            "hors_periode": c.filter(pl.col("situation") == "hors_periode").height,
            "montant_cents": int(billed["montant_cents"].sum() or 0),
            "montant_indicatif_cents": int(indicative["montant_indicatif_cents"].sum() or 0),
            "ecoles": int(billed["ecoles"].sum() or 0),
            "eleves": int(billed["eleves"].sum() or 0),
        }

    def summary_lines(self) -> list[str]:
        from billing.core.money import format_count, format_euros

        t = self.totals()
        lines = [
            f"Contributions {self.data.annee} — tarif « {self.data.tariff.deliberation} », rentrée {self.data.tariff.rentree}",
            f"  Communes facturées       : {t['facturees']:>6}   {format_euros(t['montant_cents']):>18}",
            *self._not_titled_lines(),
            f"  Conditionnelles (info)   : {t['indicatives']:>6}   {format_euros(t['montant_indicatif_cents']):>18}",
        ]
        if t["hors_periode"]:
            lines.append(f"  Hors période             : {t['hors_periode']:>6}")
        lines.append(f"  Écoles / élèves facturés : {format_count(t['ecoles'])} écoles publiques, "
                     f"{format_count(t['eleves'])} élèves")
        kind = "Projets d'avis (PROJET)" if self.corrections is None else "Projets de corrections"
        pdfs = sum(1 for path in self.notices if path.suffix == ".pdf")
        also = f" (+ {pdfs} PDF)" if pdfs else ""
        lines.append(f"  {kind:<25}: {len(self.notices) - pdfs}{also} dans {self.out_dir / 'avis'}/")
        for label, path in self.outputs.items():
            lines.append(f"  {label:<25}: {path}")
        if self.ledger_note:
            lines.append(f"Attention : {self.ledger_note}")
        if self.date_note:
            lines.append(f"Attention : {self.date_note} ; « ent-bill issue » le refusera sans date_emission "
                         f"dans tarifs.toml ou --hors-exercice.")
        if self.corrections is not None and not self.corrections:
            lines.append(f"Rien à corriger : le registre des titres {self.data.annee} correspond au calcul.")
        if self.differences:
            lines.append(f"Écarts avec les titres déjà émis ({len(self.differences)}) — « ent-bill issue "
                         f"{self.data.annee} » émettra les corrections :")
            for code, commune, issued, computed in self.differences:
                delta = computed - issued
                lines.append(f"  {code} {commune:<30} émis {format_euros(issued):>14}  calculé "
                             f"{format_euros(computed):>14}  ({'+' if delta >= 0 else ''}{format_euros(delta)})")
        return lines

    def _not_titled_lines(self) -> list[str]:
        """DESIGN §4b: of the billed amount, what no titre will carry (fiscalised; below the seuil)."""
        from billing.core.money import format_euros
        from billing.render.not_titled import not_titled_frames

        fiscal, below = not_titled_frames(self.data.priced.contributions)
        lines = []
        if fiscal.height:
            lines.append(f"    dont fiscalisées      : {fiscal.height:>6}   "
                         f"{format_euros(int(fiscal['montant_cents'].sum())):>18}  (impôt local : ni avis ni titre)")
        if below.height:
            seuil = format_euros(self.data.tariff.seuil_cents)
            lines.append(f"    dont sous le seuil    : {below.height:>6}   "
                         f"{format_euros(int(below['montant_cents'].sum())):>18}  (moins de {seuil} : pas de titre "
                         f"pour l'instant) : {', '.join(below['commune'].to_list()[:10])}")
        return lines

    def as_json(self) -> dict:
        from billing.core.money import cents_to_str

        t = self.totals()
        return {
            "ok": True,
            "annee": self.data.annee,
            "deliberation": self.data.tariff.deliberation,
            "communes": t["communes"],
            "facturees": t["facturees"],
            "indicatives": t["indicatives"],
            "hors_periode": t["hors_periode"],
            "total": cents_to_str(t["montant_cents"]),
            "total_indicatif": cents_to_str(t["montant_indicatif_cents"]),
            "avis": sum(1 for path in self.notices if path.suffix == ".xlsx"),
            "avis_pdf": sum(1 for path in self.notices if path.suffix == ".pdf"),
            "ecarts_emis": [{"code_insee": c, "commune": n, "emis": cents_to_str(i), "calcule": cents_to_str(v)}
                            for c, n, i, v in self.differences],
            "registre": self.ledger_note,
            "fichiers": {k: str(v) for k, v in self.outputs.items()},
            "avertissements": [p.as_dict() for p in self.warnings],
        }


def compute(inputs_dir: Path, annee: int, *, out_dir: Path, ledger_path: Path | None = None, progress=None,
            today: date | None = None, pdf: bool = False) -> ComputeResult:
    """Validate, price, then write drafts and tables; nothing is written when an error stands.

    Before any titre of the year is issued, each billed commune gets a draft of its titre.
    Afterwards, drafts show what ``issue`` would emit (a titre complémentaire, a réduction,
    an annulation, a first titre for a new member), and a commune with nothing to correct
    gets none. The notices are written by worker processes while this one writes the
    tables: on two cores neither waits for the other.
    """
    from billing import __version__
    from billing.documents import issue_date_for, issue_date_warning
    from billing.inputs.config import tariff_to_dict
    from billing.render.contributions import write_manifest
    from billing.render.notice import start_notices
    from billing.render.outdir import ensure_output_dir

    ensure_output_dir(out_dir, inputs_dir)  # a bad --out is refused before anything is computed
    report = progress or (lambda stage, done, total: None)
    report("Lecture et contrôle", 0, 1)
    data = prepare_year(inputs_dir, annee)
    priced = data.priced
    report("Lecture et contrôle", 1, 1)
    issued, ledger_note = issued_with_ledger(ledger_path, annee)  # before any file is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notices, corrections = draft_values(data, issued, ledger_path=ledger_path, reports=out_dir, today=today)
    generated_at = datetime.now().replace(microsecond=0)
    with start_notices(notices, out_dir / "avis",
                       progress=lambda done: report("Projets d'avis", done, len(notices))) as pending:
        outputs = write_tables(data, out_dir=out_dir, ledger_path=ledger_path, generated_at=generated_at)
    written = list(pending.paths)
    written += finish_drafts(notices, out_dir / "avis", pdf=pdf or data.syndicat.wants_pdf, report=report)
    outputs["Manifeste"] = write_manifest(out_dir / "manifest.json", priced=priced,
                                          tariff_record=tariff_to_dict(priced.tariff), input_hashes=data.input_hashes,
                                          version=__version__, outputs=outputs, out_dir=out_dir)
    date_note = issue_date_warning(annee, issue_date_for(data.tariff, today),
                                   fixed=data.tariff.date_emission is not None)
    return ComputeResult(data, out_dir, outputs, tuple(written), differences_of(priced, issued), ledger_note,
                         date_note, corrections)


def write_tables(data: YearData, *, out_dir: Path, ledger_path: Path | None, generated_at) -> dict[str, Path]:
    """The contributions workbook, its CSVs (and one per competence, DESIGN §4c) and the summary."""
    from billing import __version__
    from billing.inputs.config import describe_tariff
    from billing.render.contributions import (write_competences_csv, write_contributions_csv,
                                              write_contributions_excel_csv, write_contributions_workbook)

    priced, annee = data.priced, data.annee
    outputs: dict[str, Path] = {}
    outputs["Tableau des contributions"] = write_contributions_workbook(
        out_dir / f"contributions_{annee}.xlsx", priced=priced, tariff_description=describe_tariff(priced.tariff),
        problems=data.warnings,
        input_hashes=data.input_hashes, syndicat=data.syndicat, version=__version__, generated_at=generated_at)
    outputs["Copie CSV"] = write_contributions_csv(out_dir / f"contributions_{annee}.csv", priced=priced)
    outputs["Copie CSV (Excel)"] = write_contributions_excel_csv(out_dir / f"contributions_{annee}_excel.csv",
                                                                priced=priced)
    if priced.by_competence is not None:  # DESIGN §4c
        outputs["CSV par compétence"] = write_competences_csv(
            out_dir / f"contributions_{annee}_competences.csv", priced=priced)
    synthese = write_summary(data, out_dir=out_dir, ledger_path=ledger_path, generated_at=generated_at)
    if synthese is not None:
        outputs["Synthèse budgétaire"] = synthese
    return outputs


def draft_values(data: YearData, issued: list | None, *, ledger_path: Path | None, reports: Path,
                 today: date | None) -> tuple[list, tuple | None]:
    """The PROJET notices of what would be issued now, and the planned corrections (None before any issue)."""
    from billing.core.corrections import plan_titres
    from billing.documents import claims_of, correction_drafts, draft_notices, ledger_sirets, recorded_sirets

    if not issued:
        return draft_notices(data, today=today), None
    corrections = tuple(plan_titres(claims_of(data.priced, data.debtors), issued))
    recorded = {**recorded_sirets(reports / f"titres_{data.annee}.csv", issued),
                **ledger_sirets(ledger_path, data.annee)}
    return correction_drafts(data, corrections, issued, today=today, recorded=recorded), corrections


def finish_drafts(notices: list, avis_dir: Path, *, pdf: bool, report) -> list[Path]:
    """The PDF drafts when asked; the stale drafts (a commune no longer billed, nothing to correct) removed."""
    from billing.render.notice import notice_filename

    written: list[Path] = []
    keep = {notice_filename(n) for n in notices}
    if pdf:
        from billing.render.notice_pdf import pdf_filename, write_pdf_notices

        written = write_pdf_notices(notices, avis_dir, progress=lambda done: report("Projets PDF", done, len(notices)))
        keep |= {pdf_filename(n) for n in notices}
    for stale in [*avis_dir.glob("PROJET*.xlsx"), *avis_dir.glob("PROJET*.pdf")]:
        if stale.name not in keep:
            stale.unlink()
    return written


def issued_with_ledger(ledger_path: Path | None, annee: int) -> tuple[list | None, str | None]:
    """The titres already issued for the year (None without a ledger), checked, and why they could not be read.

    A busy ledger (an ``issue`` running) does not stop the drafts: the comparison is skipped
    and the second value says why. A damaged or altered ledger is refused before anything is
    written: drafts of corrections planned against a forged amount would mislead.
    """
    if ledger_path is None or not Path(ledger_path).exists():
        return None, None
    from billing.ledger.guard import RESTORE, VERIFY, LedgerBusy, LedgerError, LedgerOutdated
    from billing.ledger.store import open_ledger

    try:
        with open_ledger(ledger_path, readonly=True) as ledger:
            findings = ledger.verify(annee)
            titres = ledger.titres(annee)
    except (LedgerBusy, LedgerOutdated) as exc:
        return None, f"comparaison avec les titres déjà émis impossible : {exc}"
    if findings:
        shown = " ; ".join(findings[:5]) + (f" ; et {len(findings) - 5} autre(s)" if len(findings) > 5 else "")
        raise LedgerError(f"le registre des titres {ledger_path} a été altéré pour l'exercice {annee} : {shown}. "
                          f"Aucun fichier n'a été écrit : {VERIFY} pour le détail, puis {RESTORE}")
    return titres, None


def differences_of(priced: Priced, issued: list | None) -> tuple:
    """(code_insee, commune, issued net, computed) of each commune whose amount moved since it was issued."""
    if not issued:
        return ()
    from billing.core.corrections import net_by_commune

    net = net_by_commune(issued)
    titled = {t.code_insee: t.commune for t in issued}  # a commune that left is named as it was titled
    # a fiscalised member is owed no titre (DESIGN §4b): what a titre should carry for it is 0
    computed: dict[str, tuple[str, int]] = {}
    for r in priced.contributions.iter_rows(named=True):
        # DESIGN §4c: a member paid for by another debtor is in that debtor's titre
        code = r.get("code_debiteur") or r["code_insee"]
        name = r["commune"] if code == r["code_insee"] else titled.get(code, code)
        due = 0 if r.get("mode_contribution") == "fiscalisee" or r["situation"] != "facturee" else r["montant_cents"]
        computed[code] = (name, computed.get(code, (name, 0))[1] + due)
    seuil = getattr(priced.tariff, "seuil_cents", 0)
    out = []
    for code in sorted(set(net) | {c for c, (_, m) in computed.items() if m}):
        name, amount = computed.get(code, (titled.get(code, code), 0))
        if net.get(code, 0) != amount and not 0 < amount - net.get(code, 0) < seuil:  # below the seuil: not titled yet
            out.append((code, name, net.get(code, 0), amount))
    return tuple(out)


def previous_year_amounts(data: YearData, *, ledger_path: Path | None) -> tuple[pl.DataFrame | None, str | None]:
    """Last year's amount per commune: from the ledger when that year was issued, else recomputed from its inputs."""
    previous = data.annee - 1
    if ledger_path is not None and Path(ledger_path).exists():
        from billing.ledger.store import open_ledger

        try:
            with open_ledger(ledger_path, readonly=True) as ledger:
                titres = ledger.titres(previous, lines=False)  # amounts and names only
        except BillingError:  # a busy or foreign ledger: compare with last year's inputs instead
            titres = []
        if titres:
            net: dict[str, int] = {}
            names: dict[str, str] = {}
            for t in titres:
                net[t.code_insee] = net.get(t.code_insee, 0) + t.signed_cents
                names[t.code_insee] = t.commune
            frame = pl.DataFrame({"code_insee": list(net), "commune": [names[c] for c in net],
                                  "montant_cents": list(net.values())}, schema={"code_insee": pl.Utf8,
                                                                               "commune": pl.Utf8,
                                                                               "montant_cents": pl.Int64})
            return frame, "registre des titres"
    try:
        last = prepare_year(data.inputs_dir, previous)
    except BillingError:
        return None, None
    frame = last.priced.contributions.filter(pl.col("situation") == "facturee").select("code_insee", "commune",
                                                                                   "montant_cents")
    return frame, f"données {previous}"


def write_summary(data: YearData, *, out_dir: Path, ledger_path: Path | None, generated_at) -> Path | None:
    from billing.inputs.config import describe_tariff
    from billing.render.synthese import write_synthese

    previous, source = previous_year_amounts(data, ledger_path=ledger_path)
    budget = None
    if data.budget is not None:
        budget = data.budget.select("annee", "compte", "libelle", "montant_prevu_cents")
    return write_synthese(out_dir / f"synthese_{data.annee}.xlsx", priced=data.priced,
                          tariff_description=describe_tariff(data.priced.tariff), previous=previous,
                          previous_source=source, budget=budget, syndicat=data.syndicat,
                          input_hashes=data.input_hashes, generated_at=generated_at)


