"""The PES V2 Recette writer, checked by reading the XML back with rules written here.

The rules (element order, formats, code lists, counts, sums, 38-character limits) are
restated from the DGFiP XSD v5.30 and its annotations, independently of the writer;
amounts are re-added with fractions.Fraction from the V attributes. The XSD itself is
not shipped: ``test_validates_against_the_dgfip_xsd`` runs when PES_XSD_DIR points at it.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
from dataclasses import replace
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest
from lxml import etree

from billing import __version__
from billing.core.pes_model import (
    PesAddress,
    PesBordereau,
    PesCentre,
    PesConfig,
    PesDebtor,
    PesIssuer,
    PesLine,
    PesOrigin,
    PesPiece,
    split_address,
    split_person,
    written_lines,
)
from billing.render.pes import PesDataError, cut_text, pes_filename, wrap_words, write_pes

NS = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller"
EXERCICE = 2024
DAY = date(2024, 3, 15)


def luhn_siret(prefix13: str) -> str:
    """A 14-digit number whose Luhn key is right (computed here, not by the product)."""
    for last in "0123456789":
        digits = prefix13 + last
        total = 0
        for index, char in enumerate(reversed(digits)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


SYNDICAT_SIRET = luhn_siret("2559001960003")
CONFIG = PesConfig(
    id_post="059000", cod_col="123", cod_bud="00", id_coll=SYNDICAT_SIRET, cod_prod_loc="ENT", ref_bdf="123456",
    centre_encaissement=PesCentre("CENTRE D'ENCAISSEMENT", PesAddress(("TSA 50000",), "35908", "Rennes Cedex 9")),
    centre_finances=PesCentre("Service de gestion comptable de Lille Métropole",
                              PesAddress(("82 avenue Kennedy",), "59000", "Lille")),
    fonction="213",
)
ISSUER = PesIssuer(
    nom="Syndicat mixte Nord - Pas-de-Calais Numérique", siret=SYNDICAT_SIRET,
    adresse=PesAddress(("151 avenue du Président Hoover",), "59555", "Lille Cedex"),
    signataire_nom="COULON", signataire_prenom="Christophe",
    comptable_iban="FR76 3000 1007 9412 3456 7890 185", comptable_bic="BDFEFRPPCCT",
)
LONG_NAME = "Commune de Saint-Martin-Boulogne-sur-la-Grande-Rivière-du-Nord"
LONG_STREET = "Hôtel de ville, 1 place du Général de Gaulle et des Anciens Combattants d'Afrique du Nord"


def debtor(index: int, *, siret: bool = True, name: str | None = None) -> PesDebtor:
    return PesDebtor(
        name=name or f"Commune de Ville{index:02d}",
        address=PesAddress(("Hôtel de ville", f"{index} place de la Mairie"), f"59{index:03d}", f"Ville{index:02d}"),
        siret=luhn_siret(f"21590{index:03d}00001") if siret else None,
    )


def titre(index: int, cents: int, *, siret: bool = True, lines: tuple[PesLine, ...] | None = None,
          name: str | None = None) -> PesPiece:
    return PesPiece(
        id_pce=index, numero=f"ENT-{EXERCICE}-{index:04d}", date=DAY,
        objet=f"Contribution {EXERCICE} — compétence usages numériques / NTIC en matière de numérique éducatif (ENT)",
        debtor=debtor(index, siret=siret, name=name),
        lines=lines or (PesLine("74748", cents, "Espace numérique de travail des écoles"),),
    )


def titres_bordereau() -> PesBordereau:
    """70 titres like the bundled sample, every debtor with a SIRET; some amounts awkward on purpose."""
    pieces = [titre(i, 1_000 * i + (i * 37) % 100) for i in range(1, 71)]
    pieces[4] = titre(5, 0, lines=(PesLine("74748", 150_000, "ENT"), PesLine("74741", 0, "SIG"),
                                   PesLine("74740", 2_501, "Administration générale")))
    pieces[9] = titre(10, 99, name=LONG_NAME)
    pieces[10] = replace(pieces[10], debtor=replace(pieces[10].debtor, address=split_address(
        f"{LONG_STREET}, 59011 Ville11")))
    return PesBordereau(EXERCICE, "01", 7, DAY, tuple(pieces))


def mixed_bordereau() -> PesBordereau:
    pieces = (titre(71, 12_345), titre(72, 6_789, siret=False), replace(titre(73, 50_000), nature="07"))
    return PesBordereau(EXERCICE, "01", 8, date(2024, 6, 2), pieces)


def reductions_bordereau() -> PesBordereau:
    reduce_one = replace(titre(74, 20_000), origin=PesOrigin(12, EXERCICE),
                         lines=(PesLine("74748", 20_000, "ENT", origin_line=1),))
    cancel_five = replace(titre(75, 0), origin=PesOrigin(5, EXERCICE),
                          lines=(PesLine("74748", 150_000, "ENT", origin_line=1),
                                 PesLine("74740", 2_501, "Administration générale", origin_line=2)))
    return PesBordereau(EXERCICE, "02", 1, date(2024, 9, 30), (reduce_one, cancel_five))


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def children(element: etree._Element) -> list[str]:
    return [child.tag for child in element]


def value(element: etree._Element, path: str) -> str:
    found = element.find(path)
    assert found is not None, f"{path} absent"
    return found.get("V")


def euros(text: str) -> Fraction:
    assert re.fullmatch(r"[1-9]\d{0,11}\.\d{2}|0\.(0[1-9]|[1-9]\d)", text), f"montant mal écrit : {text}"
    return Fraction(text)


# --------------------------------------------------------------------------- the sequence orders of the XSD

ORDER_BLOC_PIECE = ["CodServ", "Affect", "IdPce", "TypPce", "NatPce", "IdRol", "DteAsp", "Edition", "ImpayeRegie",
                    "EnvRetour", "ObjPce", "DebFact", "FinFact", "NumDette", "Per", "Cle1", "Cle2", "PJRef",
                    "NumeroFacture", "NumeroMarche", "NumeroEngagement", "CodeService", "NomService",
                    "CadreFacturation"]
ORDER_INFO_LIGNE = ["IdLigne", "ObjLignePce", "CodProdLoc", "FinGeo", "CodEtGeo", "Nature", "Fonction", "Operation",
                    "TxTva", "Majo", "DteMajo", "TxMajo", "CpteTiers", "TvaIntraCom", "TVAImportation", "MtHT",
                    "MtTVA", "MtNonMajo", "InfoCollBen", "PJRef"]
ORDER_INFO_TIERS = ["IdTiers", "DteNaissance", "NatIdTiers", "DteIdTiers", "RefTiers", "CatTiers", "NatJur",
                    "TypTiers", "Civilite", "Nom", "ComplNom", "Prenom", "LieuNaissance"]
ORDER_ADRESSE = ["TypAdr", "Adr1", "Adr2", "Adr3", "CP", "Ville", "CodRes", "CodPays", "DteAdr"]


def in_order(tags: list[str], order: list[str]) -> bool:
    positions = [order.index(tag) for tag in tags]  # an unknown tag raises: not in the XSD sequence
    return positions == sorted(positions)


def test_file_head_and_order_of_parts():
    root = parse(write_pes(titres_bordereau(), CONFIG, ISSUER))
    assert root.tag == f"{{{NS}}}PES_Aller" and root.prefix == "n"
    assert children(root) == ["Enveloppe", "EnTetePES", "PES_RecetteAller", "PES_PJ"]
    assert all(element.tag.startswith("{") is False for element in root.iter() if element is not root)
    assert value(root, "Enveloppe/Parametres/Version") == "2"
    assert value(root, "Enveloppe/Parametres/TypFic") == "PESALR1"
    assert value(root, "Enveloppe/Parametres/NomFic") == "PES_2024_T007.xml"
    head = root.find("EnTetePES")
    assert children(head) == ["DteStr", "IdPost", "IdColl", "CodCol", "CodBud", "LibelleColBud"]
    assert [value(head, tag) for tag in ("IdPost", "IdColl", "CodCol", "CodBud")] == \
           ["059000", SYNDICAT_SIRET, "123", "00"]
    assert value(root, "PES_RecetteAller/EnTeteRecette/IdVer") == "2"
    assert value(root, "PES_RecetteAller/EnTeteRecette/InfoDematerialisee") == "0"


def test_titres_bordereau_counts_sums_and_codes():
    bordereau = titres_bordereau()
    root = parse(write_pes(bordereau, CONFIG, ISSUER))
    bloc = root.find("PES_RecetteAller/Bordereau/BlocBordereau")
    assert children(bloc) == ["Exer", "IdBord", "DteBordEm", "TypBord", "NbrPce", "MtBordHt"]
    pieces = root.findall("PES_RecetteAller/Bordereau/Piece")
    assert value(bloc, "NbrPce") == str(len(pieces)) == "70"
    line_amounts = [euros(e.get("V")) for e in root.iterfind(".//InfoLignePiece/MtHT")]
    assert euros(value(bloc, "MtBordHt")) == sum(line_amounts)
    expected = sum(Fraction(line.amount_cents, 100) for p in bordereau.pieces for line in p.lines)
    assert sum(line_amounts) == expected
    assert (value(bloc, "Exer"), value(bloc, "IdBord"), value(bloc, "TypBord")) == ("2024", "7", "01")
    for piece in pieces:
        bloc_piece = piece.find("BlocPiece")
        assert in_order(children(bloc_piece), ORDER_BLOC_PIECE)
        assert (value(bloc_piece, "TypPce"), value(bloc_piece, "NatPce"), value(bloc_piece, "Edition")) == \
               ("01", "01", "02")
        assert re.fullmatch(r"[A-Za-z0-9 +_/-]{1,20}", value(bloc_piece, "NumeroFacture"))
        ids = [value(line, "BlocLignePiece/InfoLignePiece/IdLigne") for line in piece.findall("LigneDePiece")]
        assert ids == [str(n) for n in range(1, len(ids) + 1)]
        for line in piece.findall("LigneDePiece"):
            info = line.find("BlocLignePiece/InfoLignePiece")
            assert in_order(children(info), ORDER_INFO_LIGNE)
            assert (value(info, "Majo"), value(info, "TvaIntraCom"), value(info, "CodProdLoc")) == ("0", "0", "ENT")
            assert value(info, "Fonction") == "213" and re.fullmatch(r"\d{1,12}", value(info, "Nature"))
            tiers = line.find("Tiers/InfoTiers")
            assert in_order(children(tiers), ORDER_INFO_TIERS)
            assert [value(tiers, t) for t in ("NatIdTiers", "CatTiers", "NatJur", "TypTiers")] == \
                   ["01", "23", "09", "01"]
            assert in_order(children(line.find("Tiers/Adresse")), ORDER_ADRESSE)
            assert line.find("BlocLignePiece/RattachPiece") is None


def test_zero_line_left_out_and_lines_renumbered():
    root = parse(write_pes(titres_bordereau(), CONFIG, ISSUER))
    piece = root.findall("PES_RecetteAller/Bordereau/Piece")[4]
    lines = piece.findall("LigneDePiece/BlocLignePiece/InfoLignePiece")
    assert [(value(x, "IdLigne"), value(x, "Nature"), value(x, "MtHT")) for x in lines] == \
           [("1", "74748", "1500.00"), ("2", "74740", "25.01")]
    assert all(euros(e.get("V")) > 0 for e in root.iter() if e.tag.startswith("Mt") and e.get("V"))


def test_text_limits_and_word_cuts():
    root = parse(write_pes(titres_bordereau(), CONFIG, ISSUER))
    for element in root.iter():
        if element.tag in ("Nom", "ComplNom", "Adr1", "Adr2", "Adr3", "Ville", "LibelleColBud"):
            assert 0 < len(element.get("V")) <= 38, element.get("V")
        if element.get("V") is not None:
            assert "\n" not in element.get("V") and element.get("V") not in (" ", ".", "nc")
        if element.tag in ("ObjPce", "ObjLignePce"):
            assert len(element.get("V")) <= 160
    long_piece = root.findall("PES_RecetteAller/Bordereau/Piece")[9]
    info = long_piece.find("LigneDePiece/Tiers/InfoTiers")
    assert value(info, "Nom") == "Commune de Saint-Martin-Boulogne-sur-"  # cut after a hyphen
    assert value(info, "ComplNom") == "la-Grande-Rivière-du-Nord"
    street = root.findall("PES_RecetteAller/Bordereau/Piece")[10].find("LigneDePiece/Tiers/Adresse")
    assert value(street, "Adr1") == "Hôtel de ville"
    assert value(street, "Adr2") == "1 place du Général de Gaulle et des"
    assert value(street, "Adr3") == "Anciens Combattants d'Afrique du Nord"


def test_one_long_street_line_continues_on_adr3():
    piece = titre(1, 1000)
    piece = replace(piece, debtor=replace(piece.debtor, address=PesAddress(
        ("1 place du Général de Gaulle et des Anciens Combattants",), "59000", "Lille")))
    root = parse(write_pes(PesBordereau(EXERCICE, "01", 1, DAY, (piece,)), CONFIG, ISSUER))
    adresse = root.find(".//Tiers/Adresse")
    assert children(adresse) == ["TypAdr", "Adr2", "Adr3", "CP", "Ville", "CodRes"]
    assert (value(adresse, "Adr2"), value(adresse, "Adr3")) == \
           ("1 place du Général de Gaulle et des", "Anciens Combattants")


def test_wrap_words_cuts_where_a_person_would():
    assert wrap_words("1 place du Général de Gaulle et des Anciens Combattants", 38) == \
           ["1 place du Général de Gaulle et des", "Anciens Combattants"]
    assert cut_text("Syndicat mixte Nord - Pas-de-Calais Numérique", 38) == "Syndicat mixte Nord - Pas-de-Calais"
    assert all(len(piece) <= 10 for piece in wrap_words("Anticonstitutionnellement grand", 10))


def test_asap_attachment_points_back_at_its_titre():
    bordereau = titres_bordereau()
    root = parse(write_pes(bordereau, CONFIG, ISSUER))
    pjs = root.findall("PES_PJ/PJ")
    assert value(root, "PES_PJ/EnTetePES_PJ/IdVer") == "1"
    assert len(pjs) == 70
    refs = {value(p, "BlocPiece/PJRef/IdUnique"): p for p in root.iterfind("PES_RecetteAller/Bordereau/Piece")}
    uniques = [value(pj, "IdUnique") for pj in pjs]
    assert len(set(uniques)) == 70 and set(uniques) == set(refs)
    for pj in pjs:
        assert children(pj) == ["Contenu", "IdUnique", "NomPJ", "TypePJ", "Description"]
        assert value(pj, "TypePJ") == "006" and re.fullmatch(r"[0-9A-Za-z]{1,50}", value(pj, "IdUnique"))
        assert re.fullmatch(r".+\.[0-9A-Za-z]{2,4}", value(pj, "NomPJ"))
        fichier = pj.find("Contenu/Fichier")
        assert fichier.get("MIMEType") == "text/xml"
        asap = parse(gzip.decompress(base64.b64decode(fichier.text)))
        assert children(asap) == ["Enveloppe", "EnTetePES", "PES_Facture"]
        facture = asap.find("PES_Facture")
        assert value(facture, "TypeFact") == "09"
        assert sorted(value(t, "InfoTiers/TypTiers") for t in facture.findall("Tiers")) == ["25", "26"]
        centre_25, centre_26 = facture.findall("Tiers")
        assert [value(centre_25, "InfoTiers/" + t) for t in ("Nom", "ComplNom")] == \
               ["CENTRE D'ENCAISSEMENT", "DES FINANCES PUBLIQUES"]
        assert centre_25.find("Adresse/Adr1") is None and centre_25.find("Adresse/Adr2") is None
        assert value(centre_26, "CpteBancaire/IBAN") == "FR7630001007941234567890185"
        assert value(centre_26, "CpteBancaire/BIC") == "BDFEFRPPCCT"
        indiv = facture.find("FactureIndiv")
        piece = refs[value(pj, "IdUnique")]
        assert value(indiv, "RefTitre/NumTitre") == value(piece, "BlocPiece/IdPce")
        assert value(indiv, "RefTitre/NumBordereau") == "7" and value(indiv, "RefTitre/NumLigne") == "1"
        assert value(indiv, "NumeroFacture") == value(piece, "BlocPiece/NumeroFacture")
        titre_total = sum(euros(e.get("V")) for e in piece.iterfind(".//InfoLignePiece/MtHT"))
        assert euros(value(indiv, "TotalAPayer/MtTotalTTC")) == titre_total == \
               sum(euros(e.get("V")) for e in indiv.iterfind("LigneFacture/MtTTC"))
        assert value(indiv, "ModeRecouvrement") == "1"


def test_mixed_bordereau_debtor_without_siret_gets_edition_01():
    root = parse(write_pes(mixed_bordereau(), CONFIG, ISSUER))
    pieces = root.findall("PES_RecetteAller/Bordereau/Piece")
    assert [value(p, "BlocPiece/Edition") for p in pieces] == ["02", "01", "02"]
    assert [value(p, "BlocPiece/NatPce") for p in pieces] == ["01", "01", "07"]
    no_siret = pieces[1].find("LigneDePiece/Tiers/InfoTiers")
    assert no_siret.find("IdTiers") is None and no_siret.find("NatIdTiers") is None
    assert len(root.findall("PES_PJ/PJ")) == 3  # Edition 01 needs its PJ reference too
    assert value(root, "Enveloppe/Parametres/NomFic") == "PES_2024_T008.xml"


def test_bad_siret_key_is_not_sent_and_config_can_force_edition_01():
    piece = titre(1, 1000)
    wrong = replace(piece, debtor=replace(piece.debtor, siret=piece.debtor.siret[:-1] + str(
        (int(piece.debtor.siret[-1]) + 1) % 10)))
    root = parse(write_pes(PesBordereau(EXERCICE, "01", 1, DAY, (wrong,)), CONFIG, ISSUER))
    assert value(root, ".//BlocPiece/Edition") == "01" and root.find(".//InfoTiers/IdTiers") is None
    forced = parse(write_pes(PesBordereau(EXERCICE, "01", 1, DAY, (piece,)), replace(CONFIG, edition="01"), ISSUER))
    assert value(forced, ".//BlocPiece/Edition") == "01"
    assert value(forced, ".//InfoTiers/IdTiers") == piece.debtor.siret  # the SIRET still identifies the debtor


def test_reductions_bordereau_points_at_the_original_lines():
    bordereau = reductions_bordereau()
    root = parse(write_pes(bordereau, CONFIG, ISSUER))
    assert children(root) == ["Enveloppe", "EnTetePES", "PES_RecetteAller"]  # no ASAP for a réduction
    assert value(root, "Enveloppe/Parametres/NomFic") == "PES_2024_R001.xml"
    bloc = root.find("PES_RecetteAller/Bordereau/BlocBordereau")
    assert (value(bloc, "TypBord"), value(bloc, "NbrPce"), value(bloc, "MtBordHt")) == ("02", "2", "1725.01")
    found = []
    for piece in root.findall("PES_RecetteAller/Bordereau/Piece"):
        bloc_piece = piece.find("BlocPiece")
        assert (value(bloc_piece, "TypPce"), value(bloc_piece, "NatPce")) == ("02", "06")
        assert bloc_piece.find("Edition") is None and bloc_piece.find("PJRef") is None
        for line in piece.findall("LigneDePiece/BlocLignePiece"):
            assert children(line) == ["InfoLignePiece", "RattachPiece"]
            rattach = line.find("RattachPiece")
            assert children(rattach) == ["NatPceOrig", "ExerRat", "IdPceOrig", "IdLigneOrig"]
            found.append(tuple(value(rattach, t) for t in ("NatPceOrig", "ExerRat", "IdPceOrig", "IdLigneOrig")))
    assert found == [("01", "2024", "12", "1"), ("01", "2024", "5", "1"), ("01", "2024", "5", "2")]
    # the titre it cancels carried exactly these IdLigne (its zero line was left out)
    original = titres_bordereau().pieces[4]
    assert [n for n, _ in written_lines(original.lines)] == [1, 2]


def test_same_values_same_bytes():
    for build in (titres_bordereau, mixed_bordereau, reductions_bordereau):
        first = write_pes(build(), CONFIG, ISSUER)
        assert first == write_pes(build(), CONFIG, ISSUER)
        assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<n:PES_Aller xmlns:n="')


def test_impossible_values_are_all_reported():
    piece = titre(1, 1000)
    bad = (replace(piece, lines=(PesLine("74748", 0),)),
           replace(piece, id_pce=2, numero="ENT-2024-0002-TROP-LONG", debtor=replace(
               piece.debtor, address=PesAddress(("1 rue X",), "5900", "Lille"))),
           replace(piece, id_pce=2))
    with pytest.raises(PesDataError) as caught:
        write_pes(PesBordereau(EXERCICE, "01", 1, DAY, bad), CONFIG, ISSUER)
    text = "\n".join(caught.value.messages)
    assert "aucune ligne de montant non nul" in text and "numéro de facture" in text
    assert "code postal" in text and "en double" in text
    with pytest.raises(PesDataError, match="exercice 2023"):
        write_pes(PesBordereau(EXERCICE, "02", 1, DAY, (replace(piece, origin=PesOrigin(3, 2023), lines=(
            PesLine("74748", 100, origin_line=1),)),)), CONFIG, ISSUER)
    with pytest.raises(PesDataError, match="origin_line"):
        write_pes(PesBordereau(EXERCICE, "02", 1, DAY, (replace(piece, origin=PesOrigin(3, 2024)),)), CONFIG, ISSUER)


def test_file_names_keep_the_two_series_apart():
    assert pes_filename(2024, "01", 1) == "PES_2024_T001.xml"
    assert pes_filename(2024, "02", 1) == "PES_2024_R001.xml"
    assert pes_filename(2025, "01", 1234) == "PES_2025_T1234.xml"
    with pytest.raises(ValueError):
        pes_filename(2024, "03", 1)


def test_issuer_needs_street_and_signatory_for_an_asap():
    bad = replace(ISSUER, adresse=PesAddress((), "59555", "Lille"), signataire_prenom="")
    with pytest.raises(PesDataError) as caught:
        write_pes(mixed_bordereau(), CONFIG, bad)
    assert any("Adr2" in m for m in caught.value.messages)
    assert any("nom et prénom" in m for m in caught.value.messages)
    assert write_pes(reductions_bordereau(), CONFIG, bad)  # no ASAP in a réductions bordereau


def test_split_person():
    assert split_person("Christophe COULON") == ("Christophe", "COULON")
    assert split_person("Jean-Marc DE LA TOUR") == ("Jean-Marc", "DE LA TOUR")
    assert split_person("Marie Dupont") == ("Marie", "Dupont")
    assert split_person("COULON") == ("", "COULON")


def test_split_address():
    assert split_address("12 rue X, 59000 Lille") == PesAddress(("12 rue X",), "59000", "Lille")
    assert split_address("Hôtel de ville\n1 place Y, 59555 Lille Cedex") == \
           PesAddress(("Hôtel de ville", "1 place Y"), "59555", "Lille Cedex")
    assert split_address("sans code postal") is None


XSD_DIR = os.environ.get("PES_XSD_DIR")


@pytest.mark.skipif(not XSD_DIR, reason="PES_XSD_DIR n'est pas défini : le XSD DGFiP PES v5.30 (non livré) "
                                        "n'est pas vérifié — pointez PES_XSD_DIR sur le dossier schemas_pes_v5.30")
@pytest.mark.parametrize("build", [titres_bordereau, mixed_bordereau, reductions_bordereau])
def test_validates_against_the_dgfip_xsd(build):
    entry = Path(XSD_DIR) / "PES_V2" / "Rev0" / "PES_Aller.xsd"
    schema = etree.XMLSchema(etree.parse(str(entry)))
    root = parse(write_pes(build(), CONFIG, ISSUER))
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)
    for fichier in root.iterfind("PES_PJ/PJ/Contenu/Fichier"):
        asap = parse(gzip.decompress(base64.b64decode(fichier.text)))
        assert schema.validate(asap), "\n".join(str(e) for e in schema.error_log)


GOLDEN = Path(__file__).parent / "fixtures" / "pes"


def golden_text(data: bytes) -> str:
    """The file as text, each gzip+base64 ASAP replaced by its XML (zlib output may differ between builds)."""
    root = parse(data)
    for fichier in root.iterfind("PES_PJ/PJ/Contenu/Fichier"):
        fichier.text = gzip.decompress(base64.b64decode(fichier.text)).decode("utf-8")
    text = etree.tostring(root, encoding="unicode", pretty_print=True)
    return text.replace(f"ent-bill {__version__}", "ent-bill VERSION")  # a release must not break the snapshot


@pytest.mark.parametrize("build, name", [(mixed_bordereau, "PES_2024_T008.txt"),
                                         (reductions_bordereau, "PES_2024_R001.txt")])
def test_golden_files(build, name):
    """Regenerate on purpose only: PES_GOLDEN_UPDATE=1 pytest tests/test_pes.py -k golden."""
    text = golden_text(write_pes(build(), CONFIG, ISSUER))
    path = GOLDEN / name
    if os.environ.get("PES_GOLDEN_UPDATE"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
