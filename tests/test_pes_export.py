"""PES export and signed run bordereaux on the sample, through the CLI only (DESIGN §6c).

The workflow of the golden snapshots: issue 2024, then one commune removed from adhesions.csv,
one commune's pupils raised, one withdrawn on 01/07/2024, issue again. The files are read back
and checked with the rules of tests/test_pes.py (restated from the XSD, independent of the
writer); amounts are re-added with Fraction from the V attributes and compared with the ledger.
With PES_XSD_DIR set, every file and every ASAP is also validated against the DGFiP XSD.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from openpyxl import load_workbook

from billing.cli import main
from billing.ledger.store import open_ledger
from tests.test_pes import (ORDER_ADRESSE, ORDER_BLOC_PIECE, ORDER_INFO_LIGNE, ORDER_INFO_TIERS, children, euros,
                            in_order, value)

pytestmark = pytest.mark.slow  # two issues of the sample (a few seconds)

BOUSBECQUE_SCHOOL = ("2023;HAUTS-DE-FRANCE;LILLE;NORD;BOUSBECQUE;0594648G;ECOLE ELEMENTAIRE PUBLIQUE;LEO LAGRANGE;"
                     "PUBLIC;0;0;10;")
XSD_DIR = os.environ.get("PES_XSD_DIR")


class Flow:
    def __init__(self, root: Path):
        self.inputs, self.out, self.ledger = root / "donnees", root / "rapports", root / "registre.duckdb"
        self.outputs: list[str] = []

    def run(self, *args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, ["--inputs", str(self.inputs), "--out", str(self.out), "--ledger",
                                           str(self.ledger), *args], catch_exceptions=False)
        assert result.exit_code == code, f"{args}: {result.output}"
        return result.output

    def pes(self, name: str) -> bytes:
        return (self.out / "pes" / name).read_bytes()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8-sig")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> Flow:
    flow = Flow(tmp_path_factory.mktemp("pes"))
    assert CliRunner().invoke(main, ["init", str(flow.inputs)]).exit_code == 0
    flow.outputs.append(flow.run("issue", "2024"))
    flow.first = sorted(p.name for p in (flow.out / "pes").iterdir())
    flow.first_bytes = flow.pes("PES_2024_T001.xml")
    adhesions = flow.inputs / "adhesions.csv"
    lines = adhesions.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    adhesions.write_text("".join(l for l in lines if not l.startswith("59106;Bouvines;")), encoding="utf-8")
    _edit(adhesions, "59133;Carnin;adherente;01/03/2024;;", "59133;Carnin;retiree;01/03/2024;01/07/2024;")
    _edit(flow.inputs / "effectifs.csv", BOUSBECQUE_SCHOOL + "210;", BOUSBECQUE_SCHOOL + "310;")
    flow.outputs.append(flow.run("issue", "2024"))
    return flow


def ledger_titres(flow: Flow) -> dict[int, object]:
    with open_ledger(flow.ledger, readonly=True) as ledger:
        return {t.seq: t for t in ledger.titres(2024)}


def check_file(data: bytes, name: str) -> etree._Element:
    """The rules every file must follow (order, formats, counts, sums), and the XSD when PES_XSD_DIR is set."""
    root = etree.fromstring(data)
    assert children(root)[:3] == ["Enveloppe", "EnTetePES", "PES_RecetteAller"]
    assert value(root, "Enveloppe/Parametres/NomFic") == name
    bloc = root.find("PES_RecetteAller/Bordereau/BlocBordereau")
    pieces = root.findall("PES_RecetteAller/Bordereau/Piece")
    assert value(bloc, "NbrPce") == str(len(pieces))
    lines = [euros(e.get("V")) for e in root.iterfind(".//InfoLignePiece/MtHT")]
    assert euros(value(bloc, "MtBordHt")) == sum(lines)
    for piece in pieces:
        assert in_order(children(piece.find("BlocPiece")), ORDER_BLOC_PIECE)
        for line in piece.findall("LigneDePiece"):
            assert in_order(children(line.find("BlocLignePiece/InfoLignePiece")), ORDER_INFO_LIGNE)
            assert in_order(children(line.find("Tiers/InfoTiers")), ORDER_INFO_TIERS)
            assert in_order(children(line.find("Tiers/Adresse")), ORDER_ADRESSE)
            assert re.fullmatch(r"\d{5}", value(line, "Tiers/Adresse/CP"))
    for element in root.iter():
        if element.tag in ("Nom", "ComplNom", "Adr1", "Adr2", "Adr3", "Ville"):
            assert 0 < len(element.get("V")) <= 38, element.get("V")
    if XSD_DIR:
        schema = etree.XMLSchema(etree.parse(str(Path(XSD_DIR) / "PES_V2" / "Rev0" / "PES_Aller.xsd")))
        assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)
        for fichier in root.iterfind("PES_PJ/PJ/Contenu/Fichier"):
            asap = etree.fromstring(gzip.decompress(base64.b64decode(fichier.text)))
            assert schema.validate(asap), "\n".join(str(e) for e in schema.error_log)
    return root


def test_first_issue_writes_one_pes_file_of_70_titres_by_chorus_pro(flow):
    assert flow.first == ["PES_2024_T001.xml"]
    root = check_file(flow.first_bytes, "PES_2024_T001.xml")
    bloc = root.find("PES_RecetteAller/Bordereau/BlocBordereau")
    assert [value(bloc, t) for t in ("Exer", "IdBord", "TypBord", "NbrPce")] == ["2024", "1", "01", "70"]
    pieces = root.findall("PES_RecetteAller/Bordereau/Piece")
    assert [value(p, "BlocPiece/Edition") for p in pieces] == ["02"] * 70
    assert len(root.findall("PES_PJ/PJ")) == 70
    titres = ledger_titres(flow)
    first_run = [t for t in titres.values() if t.run_id == titres[1].run_id]
    assert [int(value(p, "BlocPiece/IdPce")) for p in pieces] == [t.seq for t in first_run]
    assert [value(p, "BlocPiece/NumeroFacture") for p in pieces] == [t.numero for t in first_run]
    assert euros(value(bloc, "MtBordHt")) == sum(Fraction(t.montant_cents, 100) for t in first_run)
    for piece, titre in zip(pieces, first_run):
        assert value(piece, "LigneDePiece/BlocLignePiece/InfoLignePiece/Nature") == "7474"
        assert euros(value(piece, "LigneDePiece/BlocLignePiece/InfoLignePiece/MtHT")) == \
               Fraction(titre.montant_cents, 100)
        assert value(piece, "LigneDePiece/Tiers/InfoTiers/Nom").startswith("COMMUNE D")
    assert "PES T001" in flow.outputs[0]


def test_corrections_run_writes_a_titres_and_a_reductions_file_pointing_at_their_titres(flow):
    titres = ledger_titres(flow)
    by_code = {t.code_insee: t for t in titres.values() if t.nature == "titre"}
    t002 = check_file(flow.pes("PES_2024_T002.xml"), "PES_2024_T002.xml")
    bloc = t002.find("PES_RecetteAller/Bordereau/BlocBordereau")
    assert [value(bloc, t) for t in ("IdBord", "TypBord", "NbrPce")] == ["2", "01", "1"]
    (piece,) = t002.findall("PES_RecetteAller/Bordereau/Piece")
    complement = titres[int(value(piece, "BlocPiece/IdPce"))]
    assert (complement.nature, complement.code_insee) == ("complementaire", "59098")
    assert value(piece, "BlocPiece/NatPce") == "07" and value(piece, "BlocPiece/Edition") == "02"
    assert len(t002.findall("PES_PJ/PJ")) == 1
    r001 = check_file(flow.pes("PES_2024_R001.xml"), "PES_2024_R001.xml")
    bloc = r001.find("PES_RecetteAller/Bordereau/BlocBordereau")
    assert [value(bloc, t) for t in ("IdBord", "TypBord", "NbrPce")] == ["1", "02", "2"]
    found = {}
    for piece in r001.findall("PES_RecetteAller/Bordereau/Piece"):
        credit = titres[int(value(piece, "BlocPiece/IdPce"))]
        rattach = piece.find("LigneDePiece/BlocLignePiece/RattachPiece")
        found[credit.nature] = (credit.code_insee, [value(rattach, t) for t in ("NatPceOrig", "ExerRat", "IdPceOrig",
                                                                                "IdLigneOrig")])
        assert value(piece, "BlocPiece/NatPce") == "06" and value(piece, "BlocPiece/TypPce") == "02"
    assert found == {"annulation": ("59106", ["01", "2024", str(by_code["59106"].seq), "1"]),
                     "reduction": ("59133", ["01", "2024", str(by_code["59133"].seq), "1"])}
    # a commune gone from adhesions.csv is still named with the SIRET its titre was sent with
    names = {value(p, "LigneDePiece/Tiers/InfoTiers/Nom"): p.find("LigneDePiece/Tiers/InfoTiers/IdTiers")
             for p in r001.findall("PES_RecetteAller/Bordereau/Piece")}
    assert names["COMMUNE DE BOUVINES"] is not None


def test_ledger_numbers_and_totals_to_the_cent(flow):
    titres = ledger_titres(flow)
    with open_ledger(flow.ledger, readonly=True) as ledger:
        made = {(b.serie, b.numero): b for b in ledger.bordereaux(2024)}
    assert sorted(made) == [("reductions", 1), ("titres", 1), ("titres", 2)]
    for (serie, numero), item in made.items():
        name = f"PES_2024_{'T' if serie == 'titres' else 'R'}{numero:03d}.xml"
        root = etree.fromstring(flow.pes(name))
        mine = [t for t in titres.values() if t.run_id == item.run_id
                and (t.nature in ("titre", "complementaire")) == (serie == "titres")]
        assert euros(value(root, "PES_RecetteAller/Bordereau/BlocBordereau/MtBordHt")) == \
               sum(Fraction(t.montant_cents, 100)for t in mine) == Fraction(item.total_cents, 100)
        assert item.pes_sha256 is not None


def test_pes_command_rewrites_all_three_byte_identical_numbering_nothing(flow):
    kept = {p.name: p.read_bytes() for p in (flow.out / "pes").iterdir()}
    assert sorted(kept) == ["PES_2024_R001.xml", "PES_2024_T001.xml", "PES_2024_T002.xml"]
    assert kept["PES_2024_T001.xml"] == flow.first_bytes  # the second issue did not touch the first file
    for path in (flow.out / "pes").iterdir():
        path.unlink()
    output = flow.run("pes", "2024")
    assert sorted(p.name for p in (flow.out / "pes").iterdir()) == sorted(kept)
    assert {p.name: p.read_bytes() for p in (flow.out / "pes").iterdir()} == kept
    assert output.count("PES écrit") == 3
    flow.run("pes", "2024", "--bordereau", "2", "--serie", "titres")
    with open_ledger(flow.ledger, readonly=True) as ledger:
        assert len(ledger.bordereaux(2024)) == 3
    assert "aucun bordereau n° 9" in flow.run("pes", "2024", "--bordereau", "9", code=1)


def test_a_rewrite_that_differs_from_the_recorded_hash_is_reported(flow):
    toml = flow.inputs / "syndicat.toml"
    original = toml.read_text(encoding="utf-8")
    try:
        _edit(toml, 'cod_prod_loc = "ENT"', 'cod_prod_loc = "ENT2"')
        output = flow.run("pes", "2024", "--bordereau", "1", "--serie", "reductions", code=1)
        assert "PES_2024_R001.xml" in output and "différente de celle enregistrée" in output
    finally:
        toml.write_text(original, encoding="utf-8")
    flow.run("pes", "2024", "--bordereau", "1", "--serie", "reductions")


def test_run_bordereaux_are_the_documents_the_ordonnateur_signs(flow):
    folder = flow.out / "bordereaux"
    assert sorted(p.name for p in folder.iterdir()) == ["bordereau_2024_R001.xlsx", "bordereau_2024_T001.xlsx",
                                                        "bordereau_2024_T002.xlsx"]
    titres = ledger_titres(flow)
    sheet = load_workbook(folder / "bordereau_2024_T001.xlsx").active
    texts = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert "Bordereau n° 1 des titres de recettes et titres complémentaires — exercice 2024" in texts
    numbers = [v for v in texts if re.fullmatch(r"ENT-2024-\d{4}", v)]
    assert numbers == [titres[s].numero for s in range(1, 71)]
    amounts = [c.value for c in sheet["F"] if c.row > 6 and c.value is not None]
    assert sum(Fraction(str(a)) for a in amounts[:-1]) == Fraction(str(amounts[-1])) == \
           sum(Fraction(titres[s].montant_cents, 100) for s in range(1, 71))
    assert "Total du bordereau : 70 pièces" in texts
    assert any(t.startswith("Certifié exécutoire le présent bordereau n° 1 de 70 titres") for t in texts)
    assert "Le Président, Christophe COULON" in texts and "Fait à Lille, le 15/04/2024" in texts
    assert sheet.print_title_rows == "$6:$6" and sheet.page_setup.orientation == "portrait"
    assert sheet.oddFooter.center.text == "page &P / &N" and sheet.page_setup.fitToHeight == 0
    reductions = load_workbook(folder / "bordereau_2024_R001.xlsx").active
    texts = [c.value for row in reductions.iter_rows() for c in row if isinstance(c.value, str)]
    assert {"annulation", "réduction"} <= set(texts) and "ENT-2024-0010" in texts
    assert any("SIRET 21590106700011" in t for t in texts)  # Bouvines, as its titre was sent


def test_without_pes_section_issue_writes_no_pes_and_says_how(tmp_path):
    flow = Flow(tmp_path)
    assert CliRunner().invoke(main, ["init", str(flow.inputs)]).exit_code == 0
    toml = flow.inputs / "syndicat.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text[:text.index("\n# Échange PES V2")] + "\n", encoding="utf-8")
    output = flow.run("issue", "2024")
    assert not (flow.out / "pes").exists()
    assert "aucun fichier PES écrit : ajoutez une section [pes] à syndicat.toml" in output
    assert (flow.out / "bordereaux" / "bordereau_2024_T001.xlsx").exists()
    assert "ajoutez une section [pes]" in flow.run("pes", "2024", code=1)


def test_a_bad_pes_section_stops_before_anything_is_issued(tmp_path):
    flow = Flow(tmp_path)
    assert CliRunner().invoke(main, ["init", str(flow.inputs)]).exit_code == 0
    _edit(flow.inputs / "syndicat.toml", 'id_post = "059000"', 'id_post = 59000')
    output = flow.run("issue", "2024", code=1)
    assert "pes.id_post" in output and "guillemets" in output
    assert not flow.ledger.exists()


def test_a_missing_signed_bordereau_is_written_again_by_the_next_issue(flow):
    path = flow.out / "bordereaux" / "bordereau_2024_T001.xlsx"
    before = [c.value for row in load_workbook(path).active.iter_rows() for c in row]
    path.unlink()
    pes_before = {p.name: p.read_bytes() for p in (flow.out / "pes").iterdir()}
    output = flow.run("issue", "2024")  # nothing to issue
    assert "Rien à émettre" in output and path.exists()
    assert [c.value for row in load_workbook(path).active.iter_rows() for c in row] == before
    assert {p.name: p.read_bytes() for p in (flow.out / "pes").iterdir()} == pes_before
