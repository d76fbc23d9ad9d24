"""PES V2 « Recette » files of the issued bordereaux, built from the ledger (DESIGN §6c).

One file per bordereau (``pes/PES_<exercice>_<T|R><nnn>.xml``): the pièces are the ledger's
titres of that bordereau's run and series; IdPce is the titre's sequence number,
NumeroFacture its full number, ObjPce its object, one line per competence (today one: the
titre's imputation account as Nature). A réduction or annulation points at its original
titre (IdPce = its sequence number, line 1). Dates come from the ledger, codes from
``[pes]`` of syndicat.toml: nothing depends on the clock.

The debtor (name, town-hall address, SIRET) is taken from the register and the inputs the
first time a bordereau's file is written, then kept in the ledger with the file's hash: a
re-write (``ent-bill pes``) reads them back, so it gives the same bytes even after a commune
has left ``adhesions.csv``; a different hash is reported, never recorded over the first.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from billing.core.corrections import IssuedTitre
from billing.core.model import Syndicat
from billing.core.pes_model import (NATURE_COMPLEMENTARY, NATURE_ORDINARY, PesAddress, PesBordereau, PesDebtor,
                                    PesIssuer, PesLine, PesOrigin, PesPiece, split_address, split_person)
from billing.ledger.bordereaux import TYP_BORD, Bordereau

PES_DIR = "pes"
LINE_LABEL = "Espace numérique de travail (ENT)"
HOW_TO_CONFIGURE = ("aucun fichier PES écrit : ajoutez une section [pes] à syndicat.toml (codes à convenir avec "
                    "le comptable public ; exemple commenté dans le syndicat.toml d'exemple, ent-bill init)")


@dataclass
class PesReport:
    """What a PES pass wrote: files, the bordereaux whose re-write differs from the recorded hash, problems."""

    written: list[Path] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def pes_issuer(syndicat: Syndicat) -> PesIssuer:
    """The syndicate as the ASAP shows it (syndicat.toml)."""
    address = split_address(syndicat.adresse) or PesAddress((), "", syndicat.adresse)
    prenom, nom = split_person(syndicat.president)
    return PesIssuer(nom=syndicat.nom, siret=syndicat.siret, adresse=address, signataire_nom=nom,
                     signataire_prenom=prenom, qualite=syndicat.qualite, tribunal=syndicat.tribunal,
                     comptable_iban=syndicat.iban or None, comptable_bic=syndicat.bic or None)


def debtor_record(titre: IssuedTitre, facts: dict[str, dict]) -> dict:
    """The debtor of one pièce as the file names it (JSON-ready): register name and address, inputs' SIRET."""
    fact = facts.get(titre.code_insee, {})
    name = fact.get("debiteur") or f"Commune de {titre.commune}"
    address = split_address(fact.get("mairie_adresse") or "") or PesAddress((), "", titre.commune)
    return {"nom": " ".join(name.split()).upper(), "adresse": list(address.lines), "cp": address.postal_code,
            "ville": address.city.upper(), "siret": fact.get("siret") or None}


def _debtor(record: dict) -> PesDebtor:
    return PesDebtor(name=record["nom"], address=PesAddress(tuple(record["adresse"]), record["cp"], record["ville"]),
                     siret=record.get("siret"))


def _nature_digits(imputation: str | None) -> str:
    """« Compte 7474 » -> « 7474 » (PES Nature: the account by nature, digits only)."""
    return "".join(re.findall(r"\d", imputation or ""))


def _sent_sirets(known: list[Bordereau], titres: list[IssuedTitre]) -> dict[str, str]:
    """code_insee -> the SIRET an earlier PES file of the exercice named for it (the latest one)."""
    code_of = {str(t.seq): t.code_insee for t in titres}
    sent: dict[str, str] = {}
    for item in sorted(known, key=lambda b: b.premier_seq):
        for seq, record in json.loads(item.pes_debiteurs_json or "{}").items():
            if record.get("siret") and seq in code_of:
                sent[code_of[seq]] = record["siret"]
    return sent


def pes_bordereau(item: Bordereau, titres: Iterable[IssuedTitre], debtors: dict[str, dict]) -> PesBordereau:
    """The PesBordereau of ``item``: its run's titres of its series, each with the debtor recorded for it."""
    from billing.ledger.bordereaux import series_of

    everything = list(titres)
    by_numero = {t.numero: t for t in everything}
    mine = [t for t in everything if t.run_id == item.run_id and series_of(t.nature) == item.serie]
    pieces = []
    for titre in sorted(mine, key=lambda t: t.seq):
        origin_line = None
        origin = None
        if item.serie == "reductions":
            first = by_numero[titre.origine_numero]
            origin = PesOrigin(first.seq, first.exercice,
                               NATURE_COMPLEMENTARY if first.nature == "complementaire" else NATURE_ORDINARY)
            origin_line = 1  # the one competence line every titre carries
        pieces.append(PesPiece(
            id_pce=titre.seq, numero=titre.numero, date=titre.date_emission, objet=titre.objet or "",
            debtor=_debtor(debtors[str(titre.seq)]), lines=_pes_lines(titre, origin_line),
            nature=NATURE_COMPLEMENTARY if titre.nature == "complementaire" else NATURE_ORDINARY, origin=origin))
    return PesBordereau(item.exercice, TYP_BORD[item.serie], item.numero, item.date_bordereau, tuple(pieces))


def _pes_lines(titre: IssuedTitre, origin_line: int | None) -> tuple[PesLine, ...]:
    """A titre of a year « à la carte » whose stored lines carry their competence: one line per competence,
    its Nature the competence's imputation, the amounts summing to the pièce (DESIGN §4c); any other titre
    (and every réduction, which points at line 1 of its titre): one line at the titre's imputation."""
    from billing.core.carte import titre_parts

    parts = titre_parts(titre.lines, titre.montant_cents) if origin_line is None else None
    if parts:
        return tuple(PesLine(_nature_digits(imputation), cents, f"{LINE_LABEL} : {name}")
                     for name, imputation, cents in parts)
    return (PesLine(_nature_digits(titre.imputation), titre.montant_cents, LINE_LABEL, origin_line=origin_line),)


def write_pes_files(ledger_path: Path, out_dir: Path, syndicat: Syndicat, annee: int, *,
                    wanted: Callable[[Bordereau], bool], facts: Callable[[set[str]], dict[str, dict]],
                    titres: list[IssuedTitre] | None = None) -> PesReport:
    """Write the PES file of every bordereau of ``annee`` that ``wanted`` selects, from the ledger.

    ``facts(codes)`` gives the register and inputs' facts of the debtors (called only for a
    bordereau never written before). Records the hash and debtors of a first write; a
    re-write whose hash differs from the recorded one is reported in ``mismatches``.
    Nothing is numbered here. ``titres``: the exercice's titres when the caller holds them already
    (``issue``, just after its commit), else read from the ledger.
    """
    from billing.ledger.store import open_ledger
    from billing.render.files import write_bytes_atomic
    from billing.render.pes import PesDataError, pes_filename, write_pes

    report = PesReport()
    issuer = pes_issuer(syndicat)
    with open_ledger(ledger_path) as ledger:
        known = ledger.bordereaux(annee)
        items = [b for b in known if wanted(b)]
        if titres is None:  # with their lines: one PES line per competence (§4c)
            titres = ledger.titres(annee) if items else []
        sent = _sent_sirets(known, titres)
        for item in items:
            mine = [t for t in titres if t.run_id == item.run_id]
            if item.pes_debiteurs_json:
                debtors = json.loads(item.pes_debiteurs_json)
            else:
                found = facts({t.code_insee for t in mine})
                debtors = {str(t.seq): debtor_record(t, found) for t in mine}
                for t in mine:  # a commune gone from adhesions.csv keeps the SIRET its titre was sent with
                    if debtors[str(t.seq)]["siret"] is None and t.code_insee in sent:
                        debtors[str(t.seq)]["siret"] = sent[t.code_insee]
            values = pes_bordereau(item, titres, debtors)
            name = pes_filename(item.exercice, values.kind, item.numero)
            try:
                data = write_pes(values, syndicat.pes, issuer)
            except PesDataError as exc:
                report.problems.extend(f"{name} : {message}" for message in exc.messages)
                continue
            report.written.append(write_bytes_atomic(out_dir / PES_DIR / name, data))
            digest = hashlib.sha256(data).hexdigest()
            if item.pes_sha256 is None:
                kept = {str(p.id_pce): debtors[str(p.id_pce)] for p in values.pieces}
                ledger.record_pes(item, digest, json.dumps(kept, ensure_ascii=False, sort_keys=True,
                                                           separators=(",", ":")))
            elif item.pes_sha256 != digest:
                report.mismatches.append(f"{name} : empreinte {digest[:12]}… différente de celle enregistrée à sa "
                                         f"première écriture ({item.pes_sha256[:12]}…)")
        if items:
            ledger.checkpoint()
    return report



def _place(adresse: str) -> str:
    """The town the ordonnateur signs in: the city of the syndicate's address, without « Cedex … »."""
    address = split_address(adresse)
    city = address.city if address else adresse
    return re.split(r"\s+cedex\b", city, flags=re.I)[0].strip() or city


def run_bordereau_values(item: Bordereau, titres: list[IssuedTitre], facts: dict[str, dict], syndicat: Syndicat):
    """What the signed bordereau of ``item`` shows: its run's titres of its series, from the ledger."""
    from billing.core.natures import nature_label
    from billing.ledger.bordereaux import series_of
    from billing.render.bordereau_run import RunBordereau, RunLine

    mine = sorted((t for t in titres if t.run_id == item.run_id and series_of(t.nature) == item.serie),
                  key=lambda t: t.seq)
    lines = tuple(RunLine(
        numero=t.numero, nature=nature_label(t.nature), origine=t.origine_numero,
        debiteur=facts.get(t.code_insee, {}).get("debiteur") or f"Commune de {t.commune}", code_insee=t.code_insee,
        siret=facts.get(t.code_insee, {}).get("siret"), echeance=t.date_echeance, montant_cents=t.montant_cents)
        for t in mine)
    return RunBordereau(
        exercice=item.exercice, serie=item.serie, numero=item.numero, date_bordereau=item.date_bordereau,
        issuer=syndicat.nom, signataire=syndicat.president, qualite=syndicat.qualite, lieu=_place(syndicat.adresse),
        objet=mine[0].objet or "", imputation=mine[0].imputation or "",
        empreinte=f"{mine[-1].numero}:{mine[-1].hash}", lines=lines)


NOTES_SHOWN = 20


def after_issue(data, issued: list[IssuedTitre], all_titres: list[IssuedTitre], *, out_dir: Path,
                ledger_path: Path) -> tuple[dict[str, Path], list[str]]:
    """The run's signed bordereaux and, with ``[pes]``, their PES files (after the commit, from the ledger).

    A signed bordereau of an earlier run whose workbook is missing is written again too (as the
    notices are); a PES file only for this run (``ent-bill pes`` re-writes the others).
    Returns the files written (label -> path) and the lines ``issue`` adds to its summary.
    """
    from billing.documents import debtor_facts
    from billing.ledger.guard import LedgerError
    from billing.ledger.store import open_ledger
    from billing.render.bordereau_run import FOLDER, run_bordereau_filename, write_run_bordereau

    run_id = issued[0].run_id if issued else None
    if not Path(ledger_path).exists():
        return {}, []
    with open_ledger(ledger_path, readonly=True) as ledger:
        known = ledger.bordereaux(data.annee)
    items = [b for b in known if b.run_id == run_id
             or not (out_dir / FOLDER / run_bordereau_filename(b.exercice, b.serie, b.numero)).exists()]
    if not items:
        return {}, []
    facts = debtor_facts(data, {t.code_insee for t in all_titres})
    for code, siret in _sent_sirets(known, all_titres).items():  # a commune gone from the inputs: as sent before
        if code in facts and not facts[code].get("siret"):
            facts[code]["siret"] = siret
    files: dict[str, Path] = {}
    for item in sorted(items, key=lambda b: b.serie != "titres"):
        label = f"Bordereau {'T' if item.serie == 'titres' else 'R'}{item.numero:03d}"
        files[label] = write_run_bordereau(out_dir, run_bordereau_values(item, all_titres, facts, data.syndicat))
    if run_id is None:
        return files, []
    if data.syndicat.pes is None:
        return files, [f"PES : {HOW_TO_CONFIGURE}"]
    try:
        report = write_pes_files(ledger_path, out_dir, data.syndicat, data.annee,
                                 wanted=lambda b: b.run_id == run_id, facts=lambda codes: facts,
                                 titres=all_titres)  # the ledger's, as issue's commit left them
    except LedgerError as exc:  # e.g. busy: the titres are committed; the files can be written later
        report = PesReport(problems=[str(exc)])
    for path in sorted(report.written, key=lambda p: "_R" in p.name):
        files[f"PES {path.stem.rsplit('_', 1)[-1]}"] = path
    shown = report.problems[:NOTES_SHOWN]  # a national run may list thousands: the first ones tell what to fix
    notes = [f"Attention, PES non écrit : {problem}" for problem in shown]
    if len(report.problems) > len(shown):
        notes.append(f"  … et {len(report.problems) - len(shown)} autre(s) problème(s) du même export")
    if report.problems:
        notes.append(f"  corrigez puis « ent-bill pes {data.annee} » : les titres, eux, sont bien enregistrés")
    return files, notes


def rewrite_pes(inputs_dir: Path, annee: int, *, out_dir: Path, ledger_path: Path, numero: int | None = None,
                serie: str | None = None) -> PesReport:
    """``ent-bill pes``: write again the PES files of the exercice's bordereaux (or of one), from the ledger.

    Numbers nothing. The inputs are read only for a bordereau whose file was never written
    (its debtors are not in the ledger yet).
    """
    from billing.core.problems import BillingError, Code, errors_of
    from billing.documents import debtor_facts
    from billing.inputs.config import read_syndicat
    from billing.ledger.store import open_ledger
    from billing.year import prepare_year

    toml = Path(inputs_dir) / "syndicat.toml"
    if not toml.exists():
        raise BillingError.single(f"{toml} introuvable : le fichier PES reprend le syndicat et sa section [pes]",
                                  code=Code.MISSING)
    syndicat, problems = read_syndicat(toml, display="syndicat.toml")
    if errors_of(problems):
        raise BillingError(problems)
    if syndicat.pes is None:
        raise BillingError.single(HOW_TO_CONFIGURE, file="syndicat.toml")
    if not Path(ledger_path).exists():
        raise BillingError.single(f"aucun registre des titres ({ledger_path}) : émettez d'abord les titres "
                                  f"(ent-bill issue {annee})", code=Code.MISSING)
    with open_ledger(ledger_path, readonly=True) as ledger:
        known = ledger.bordereaux(annee)
    chosen = [b for b in known if (numero is None or b.numero == numero) and (serie is None or b.serie == serie)]
    if not chosen:
        which = f" n° {numero}" if numero is not None else ""
        which += f" de la série {serie}" if serie else ""
        listed = ", ".join(f"{b.serie} n° {b.numero}" for b in known) or "aucun"
        raise BillingError.single(f"aucun bordereau{which} pour l'exercice {annee} (bordereaux : {listed})",
                                  code=Code.MISSING)
    keys = {(b.serie, b.numero) for b in chosen}
    loaded: dict = {}

    def facts(codes: set[str]) -> dict[str, dict]:
        if "data" not in loaded:
            loaded["data"] = prepare_year(Path(inputs_dir), annee)
        return debtor_facts(loaded["data"], codes)
    return write_pes_files(ledger_path, out_dir, syndicat, annee, wanted=lambda b: (b.serie, b.numero) in keys,
                           facts=facts)
