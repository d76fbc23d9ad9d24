"""compute: the priced year written as drafts, tables and the summary; nothing is issued.

Nothing is written when an error stands: the year is prepared (billing.year) and compared
with the ledger before the first file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

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

    @property
    def priced(self):
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
        from billing.core.money import format_euros

        t = self.totals()
        lines = [
            f"Contributions {self.data.annee} — tarif « {self.data.tariff.deliberation} », rentrée {self.data.tariff.rentree}",
            f"  Communes facturées      : {t['facturees']:>6}   {format_euros(t['montant_cents']):>18}",
            f"  Conditionnelles (info)  : {t['indicatives']:>6}   {format_euros(t['montant_indicatif_cents']):>18}",
        ]
        if t["hors_periode"]:
            lines.append(f"  Hors période            : {t['hors_periode']:>6}")
        lines.append(f"  Écoles / élèves facturés: {t['ecoles']} écoles publiques, {t['eleves']} élèves")
        lines.append(f"  Projets d'avis (PROJET) : {len(self.notices)} dans {self.out_dir / 'avis'}/")
        for label, path in self.outputs.items():
            lines.append(f"  {label:<24}: {path}")
        if self.ledger_note:
            lines.append(f"Attention : {self.ledger_note}")
        if self.date_note:
            lines.append(f"Attention : {self.date_note} ; « ent-bill issue » le refusera sans date_emission "
                         f"dans tarifs.toml ou --hors-exercice.")
        if self.differences:
            lines.append(f"Écarts avec les titres déjà émis ({len(self.differences)}) — « ent-bill issue "
                         f"{self.data.annee} » émettra les corrections :")
            for code, commune, issued, computed in self.differences:
                delta = computed - issued
                lines.append(f"  {code} {commune:<30} émis {format_euros(issued):>14}  calculé "
                             f"{format_euros(computed):>14}  ({'+' if delta >= 0 else ''}{format_euros(delta)})")
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
            "avis": len(self.notices),
            "ecarts_emis": [{"code_insee": c, "commune": n, "emis": cents_to_str(i), "calcule": cents_to_str(v)}
                            for c, n, i, v in self.differences],
            "registre": self.ledger_note,
            "fichiers": {k: str(v) for k, v in self.outputs.items()},
            "avertissements": [p.as_dict() for p in self.warnings],
        }


def compute(inputs_dir: Path, annee: int, *, out_dir: Path, ledger_path: Path | None = None, progress=None,
            today: date | None = None) -> ComputeResult:
    """Validate, price, then write drafts and tables; nothing is written when an error stands."""
    from billing import __version__
    from billing.documents import draft_notices
    from billing.render.contributions import write_contributions_csv, write_contributions_workbook, write_manifest
    from billing.render.notice import notice_filename, write_notices

    report = progress or (lambda stage, done, total: None)
    report("Lecture et contrôle", 0, 1)
    data = prepare_year(inputs_dir, annee)
    priced = data.priced
    report("Lecture et contrôle", 1, 1)
    differences, ledger_note = differences_with_ledger(priced, ledger_path=ledger_path)  # before any file is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    avis_dir = out_dir / "avis"
    avis_dir.mkdir(exist_ok=True)
    notices = draft_notices(data, today=today)
    written = write_notices(notices, avis_dir, progress=lambda done: report("Projets d'avis", done, len(notices)))
    keep = {notice_filename(n) for n in notices}
    for stale in avis_dir.glob("PROJET_*.xlsx"):
        if stale.name not in keep:  # a commune no longer billed must not keep an old draft
            stale.unlink()
    generated_at = datetime.now().replace(microsecond=0)
    outputs: dict[str, Path] = {}
    outputs["Tableau des contributions"] = write_contributions_workbook(
        out_dir / f"contributions_{annee}.xlsx", priced=priced, problems=data.warnings,
        input_hashes=data.input_hashes, syndicat=data.syndicat, version=__version__, generated_at=generated_at)
    outputs["Copie CSV"] = write_contributions_csv(out_dir / f"contributions_{annee}.csv", priced=priced)
    synthese = write_summary(data, out_dir=out_dir, ledger_path=ledger_path, generated_at=generated_at)
    if synthese is not None:
        outputs["Synthèse budgétaire"] = synthese
    outputs["Manifeste"] = write_manifest(out_dir / "manifest.json", priced=priced, input_hashes=data.input_hashes,
                                          version=__version__, outputs=outputs, out_dir=out_dir)
    from billing.documents import issue_date_for, issue_date_warning

    date_note = issue_date_warning(annee, issue_date_for(data.tariff, today),
                                   fixed=data.tariff.date_emission is not None)
    return ComputeResult(data, out_dir, outputs, tuple(written), differences, ledger_note, date_note)


def differences_with_ledger(priced, *, ledger_path: Path | None) -> tuple[tuple, str | None]:
    """Each commune whose computed amount differs from what the ledger already titled for the year.

    Drafts do not need the ledger: when it cannot be read (an ``issue`` running, a foreign
    file), the comparison is skipped and the second value says why.
    """
    if ledger_path is None or not Path(ledger_path).exists():
        return (), None
    from billing.ledger.store import open_ledger

    try:
        with open_ledger(ledger_path, readonly=True) as ledger:
            issued = ledger.net_by_commune(priced.annee)
    except BillingError as exc:
        return (), f"comparaison avec les titres déjà émis impossible : {exc}"
    if not issued:
        return (), None
    computed = {r["code_insee"]: (r["commune"], r["montant_cents"]) for r in priced.contributions.iter_rows(named=True)}
    out = []
    for code in sorted(set(issued) | {c for c, (_, m) in computed.items() if m}):
        name, amount = computed.get(code, (code, 0))
        if issued.get(code, 0) != amount:
            out.append((code, name, issued.get(code, 0), amount))
    return tuple(out), None


def previous_year_amounts(data: YearData, *, ledger_path: Path | None) -> tuple[pl.DataFrame | None, str | None]:
    """Last year's amount per commune: from the ledger when that year was issued, else recomputed from its inputs."""
    previous = data.annee - 1
    if ledger_path is not None and Path(ledger_path).exists():
        from billing.ledger.store import open_ledger

        try:
            with open_ledger(ledger_path, readonly=True) as ledger:
                titres = ledger.titres(previous)
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
    from billing.render.synthese import write_synthese

    previous, source = previous_year_amounts(data, ledger_path=ledger_path)
    budget = None
    if data.budget is not None:
        budget = data.budget.select("annee", "compte", "libelle", "montant_prevu_cents")
    return write_synthese(out_dir / f"synthese_{data.annee}.xlsx", priced=data.priced, previous=previous,
                          previous_source=source, budget=budget, syndicat=data.syndicat,
                          input_hashes=data.input_hashes, generated_at=generated_at)


