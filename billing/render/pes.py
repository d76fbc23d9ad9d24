"""The PES V2 « Recette » file for Hélios (DGFiP XSD v5.30): one ``PES_Aller`` per bordereau.

Pure and deterministic: the same values give the same bytes (no clock, no random id,
gzip without a time stamp, fixed element and attribute order). Every leaf is an empty
element with its value in ``V``; children follow the XSD's sequence order exactly.

File names: ``PES_<exercice>_T<nnn>.xml`` for a bordereau of titres (TypBord 01) and
``PES_<exercice>_R<nnn>.xml`` for one of réductions / annulations (TypBord 02): both
series restart at 1 each exercice, so the letter keeps them apart.

Edition: a titre whose debtor has a valid SIRET goes through Chorus Pro (Edition 02),
any other is printed by the DGFiP (Edition 01); ``edition = "01"`` in ``[pes]`` forces 01.
Both carry the ASAP as a PES_Facture (TypeFact 09) attachment in the PES_PJ part.
"""

from __future__ import annotations

import base64
import gzip
import re
from typing import Iterable

from lxml import etree

from billing import __version__
from billing.core.identifiers import siret_ok
from billing.core.pes_model import (
    DEBTOR_CATEGORIES,
    NATURE_REDUCTION,
    REDUCTIONS,
    TITRE_NATURES,
    TITRES,
    PesAddress,
    PesBordereau,
    PesConfig,
    PesDebtor,
    PesIssuer,
    PesPiece,
    written_lines,
)

NAMESPACE = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller"
N = "{%s}" % NAMESPACE
MAX_NAME = 38  # Nom, ComplNom, Adr1–3, Ville
MAX_OBJECT = 160  # ObjPce, ObjLignePce, Objet
SOFTWARE = "ENT-BILL"
KIND_LETTERS = {TITRES: "T", REDUCTIONS: "R"}
CENTRE_ENCAISSEMENT = ("CENTRE D'ENCAISSEMENT", "DES FINANCES PUBLIQUES")  # fixed by the PES_Facture rules
ASAP_REGLEMENT = "Virement au comptable public assignataire, en rappelant la référence du titre."
ASAP_CONDITIONS = "Somme due à réception, payable auprès du comptable public indiqué."


class PesDataError(ValueError):
    """The values cannot make a valid PES file; ``messages`` lists every reason, in French."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages))


# --------------------------------------------------------------------------- text rules


def clean_text(text: str) -> str:
    """One line: no CR/LF or tab, single spaces, trimmed (Hélios refuses line breaks in a value)."""
    return " ".join(str(text).split())


def wrap_words(text: str, width: int = MAX_NAME) -> list[str]:
    """Cut ``text`` into pieces of at most ``width`` characters, at spaces (or after a hyphen) when possible."""
    words = clean_text(text).split(" ")
    pieces: list[str] = []
    current = ""
    for word in words:
        while len(word) > width:  # a single word longer than a line: cut it where it must be cut
            room = width - len(current) - (1 if current else 0)
            if room < 4:
                pieces.append(current)
                current, room = "", width
            cut = word.rfind("-", 0, room) + 1 or room
            current = f"{current} {word[:cut]}".strip()
            pieces.append(current)
            current, word = "", word[cut:]
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return [piece.rstrip(" ,;") for piece in pieces if piece.strip(" ,;")]


def cut_text(text: str, width: int) -> str:
    """The first ``width`` characters of ``text`` ending at a word boundary (a label that must fit one field)."""
    pieces = wrap_words(text, width)
    return pieces[0] if pieces else ""


def amount(cents: int) -> str:
    """Cents -> « 1250.00 »: dot, two decimals, no sign, no grouping (Base_Montant)."""
    if cents <= 0:
        raise ValueError(f"montant non positif : {cents} centimes")
    return f"{cents // 100}.{cents % 100:02d}"


def pes_filename(exercice: int, kind: str, number: int) -> str:
    """``PES_2024_T001.xml`` (titres) / ``PES_2024_R001.xml`` (réductions, annulations)."""
    if kind not in KIND_LETTERS:
        raise ValueError(f"type de bordereau inconnu : {kind!r} (attendu 01 ou 02)")
    return f"PES_{exercice}_{KIND_LETTERS[kind]}{number:03d}.xml"


def edition_for(debtor: PesDebtor, config: PesConfig) -> str:
    """02 (Chorus Pro) for a debtor with a valid SIRET, 01 (printed by the DGFiP) otherwise or when forced."""
    if config.edition == "01":
        return "01"
    return "02" if debtor.siret and siret_ok(debtor.siret) else "01"


def asap_id(bordereau: PesBordereau, piece: PesPiece, config: PesConfig) -> str:
    """IdUnique of a titre's ASAP: letters and digits, unique per budget, exercice and titre."""
    return f"ASAP{config.cod_col}{config.cod_bud}{bordereau.exercice}T{piece.id_pce:08d}"


# --------------------------------------------------------------------------- checks


def check_bordereau(bordereau: PesBordereau, config: PesConfig, issuer: PesIssuer | None = None) -> list[str]:
    """Every reason the values cannot be written (French); empty when the bordereau is writable.

    ``issuer`` is checked when given and the bordereau carries ASAPs (titres): its street
    (Adr2), postal code and the signatory's name and first name are mandatory there.
    """
    problems: list[str] = []
    if issuer is not None and bordereau.kind == TITRES:
        problems.extend(_issuer_problems(issuer))
    if bordereau.kind not in KIND_LETTERS:
        problems.append(f"type de bordereau {bordereau.kind!r} inconnu (01 titres, 02 réductions)")
    if not 0 < bordereau.number < 10_000_000:
        problems.append(f"numéro de bordereau {bordereau.number} hors de 1 à 9999999")
    if not 1900 <= bordereau.exercice <= 9999:
        problems.append(f"exercice {bordereau.exercice} invalide")
    if not bordereau.pieces:
        problems.append("bordereau sans pièce")
    seen: set[int] = set()
    for piece in bordereau.pieces:
        problems.extend(f"titre {piece.numero} : {text}" for text in _piece_problems(bordereau, piece))
        if piece.id_pce in seen:
            problems.append(f"titre {piece.numero} : numéro de pièce {piece.id_pce} en double dans le bordereau")
        seen.add(piece.id_pce)
    return problems


def _issuer_problems(issuer: PesIssuer) -> Iterable[str]:
    if not any(clean_text(line) for line in issuer.adresse.lines):
        yield "adresse du syndicat sans voie : l'avis des sommes à payer exige la rue (Adr2) de l'émetteur"
    if not re.fullmatch(r"\d{5}", issuer.adresse.postal_code):
        yield f"code postal du syndicat {issuer.adresse.postal_code!r} : 5 chiffres attendus"
    if not clean_text(issuer.signataire_nom) or not clean_text(issuer.signataire_prenom):
        yield "signataire de l'avis : nom et prénom sont tous deux obligatoires (ex. « Christophe COULON »)"
    if not siret_ok(issuer.siret):
        yield f"SIRET du syndicat {issuer.siret!r} invalide"


def _piece_problems(bordereau: PesBordereau, piece: PesPiece) -> Iterable[str]:
    if not 0 < piece.id_pce < 100_000_000:
        yield f"numéro de pièce {piece.id_pce} hors de 1 à 99999999"
    if not re.fullmatch(r"[A-Za-z0-9 +_/-]{1,20}", piece.numero):
        yield "numéro de facture : 20 caractères au plus, lettres, chiffres, espace, - + _ /"
    if any(line.amount_cents < 0 for line in piece.lines):
        yield "montant de ligne négatif : une réduction s'écrit en positif dans un bordereau de type 02"
    if not written_lines(piece.lines):
        yield "aucune ligne de montant non nul"
    if piece.debtor.category not in DEBTOR_CATEGORIES:
        yield f"catégorie de débiteur {piece.debtor.category!r} inconnue ({', '.join(DEBTOR_CATEGORIES)})"
    if not re.fullmatch(r"\d{5}", piece.debtor.address.postal_code):
        yield f"code postal du débiteur {piece.debtor.address.postal_code!r} : 5 chiffres attendus"
    if not clean_text(piece.debtor.address.city) or not clean_text(piece.debtor.name):
        yield "nom ou ville du débiteur vide"
    if not any(clean_text(line) for line in piece.debtor.address.lines):
        yield "adresse du débiteur sans ligne de voie (Adr2 obligatoire)"
    for _, line in written_lines(piece.lines):
        if not re.fullmatch(r"\d{1,12}", line.imputation):
            yield f"imputation {line.imputation!r} : le compte par nature s'écrit en chiffres (12 au plus)"
    if bordereau.kind == REDUCTIONS:
        if piece.origin is None:
            yield "réduction sans titre d'origine (RattachPiece)"
        elif piece.origin.exercice != bordereau.exercice:
            yield (f"réduction d'un titre de l'exercice {piece.origin.exercice} dans un bordereau de "
                   f"{bordereau.exercice} : Hélios ne réduit un titre que dans son exercice")
        if any(line.origin_line is None or line.origin_line < 1 for _, line in written_lines(piece.lines)):
            yield "réduction : chaque ligne doit citer la ligne du titre d'origine (origin_line ≥ 1)"
    elif piece.nature not in TITRE_NATURES:
        yield f"nature de pièce {piece.nature!r} : 01 (ordinaire) ou 07 (complémentaire) attendu"


# --------------------------------------------------------------------------- XML helpers


def _leaf(parent: etree._Element, tag: str, value: object) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.set("V", str(value))
    return element


def _leaves(parent: etree._Element, pairs: Iterable[tuple[str, object]]) -> None:
    """Empty elements with their value in ``V``, in order; a None value is left out (optional field)."""
    for tag, value in pairs:
        if value is not None and value != "":
            _leaf(parent, tag, value)


def _document(nom_fic: str, config: PesConfig, issuer: PesIssuer, day: str) -> etree._Element:
    """``n:PES_Aller`` with its Enveloppe and EnTetePES (the head every PES file, and every ASAP, carries)."""
    root = etree.Element(N + "PES_Aller", nsmap={"n": NAMESPACE})
    envelope = etree.SubElement(root, "Enveloppe")
    _leaves(etree.SubElement(envelope, "Parametres"),
            [("Version", 2), ("TypFic", "PESALR1"), ("NomFic", nom_fic)])
    _leaves(etree.SubElement(envelope, "Emetteur"),
            [("Sigle", SOFTWARE), ("Adresse", f"ent-bill {__version__}")])
    _leaves(etree.SubElement(root, "EnTetePES"), [
        ("DteStr", day), ("IdPost", config.id_post), ("IdColl", config.id_coll), ("CodCol", config.cod_col),
        ("CodBud", config.cod_bud), ("LibelleColBud", cut_text(issuer.nom, MAX_NAME)),
    ])
    return root


XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _serialize(root: etree._Element) -> bytes:
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8") + b"\n"


def _name_fields(name: str) -> list[tuple[str, str | None]]:
    """Nom (38) and, when the name is longer, ComplNom (38) with the rest, cut at words."""
    pieces = wrap_words(name, MAX_NAME)
    return [("Nom", pieces[0]), ("ComplNom", pieces[1] if len(pieces) > 1 else None)]


def _address_fields(address: PesAddress) -> list[tuple[str, str | None]]:
    """Adr1 (complement), Adr2 (number and street, mandatory), Adr3 (rest); CP; Ville — each ≤ 38, cut at words.

    One line is the street: Adr2, and what does not fit goes on to Adr3. With two lines or
    more, the first is the complement (« Hôtel de ville ») in Adr1, the second the street
    (Adr2, continued on Adr3), further lines join Adr3.
    """
    lines = [clean_text(line) for line in address.lines if clean_text(line)]
    complement = cut_text(lines[0], MAX_NAME) if len(lines) > 1 else None
    street = wrap_words(lines[-1] if len(lines) == 1 else lines[1], MAX_NAME) if lines else []
    rest = " ".join(street[1:] + lines[2:])
    return [("TypAdr", 1), ("Adr1", complement), ("Adr2", street[0] if street else None),
            ("Adr3", cut_text(rest, MAX_NAME) if rest else None),
            ("CP", address.postal_code), ("Ville", cut_text(address.city, MAX_NAME)), ("CodRes", 0)]


# --------------------------------------------------------------------------- the bordereau


def write_pes(bordereau: PesBordereau, config: PesConfig, issuer: PesIssuer) -> bytes:
    """The whole PES_Aller file of one bordereau, UTF-8 bytes; raises PesDataError listing every problem."""
    problems = check_bordereau(bordereau, config, issuer)
    if problems:
        raise PesDataError(problems)
    day = bordereau.date.isoformat()
    root = _document(pes_filename(bordereau.exercice, bordereau.kind, bordereau.number), config, issuer, day)
    recette = etree.SubElement(root, "PES_RecetteAller")
    _leaves(etree.SubElement(recette, "EnTeteRecette"), [("IdVer", 2), ("InfoDematerialisee", 0)])
    element = etree.SubElement(recette, "Bordereau")
    element.set("Id", f"B{bordereau.exercice}-{bordereau.kind}-{bordereau.number}")
    total = sum(line.amount_cents for piece in bordereau.pieces for _, line in written_lines(piece.lines))
    _leaves(etree.SubElement(element, "BlocBordereau"), [
        ("Exer", bordereau.exercice), ("IdBord", bordereau.number), ("DteBordEm", day),
        ("TypBord", bordereau.kind), ("NbrPce", len(bordereau.pieces)), ("MtBordHt", amount(total)),
    ])
    attachments = []
    for piece in bordereau.pieces:
        edition = edition_for(piece.debtor, config) if bordereau.kind == TITRES else None
        _write_piece(element, bordereau, piece, config, edition)
        if edition:
            attachments.append((piece, edition))
    if attachments:
        pj_part = etree.SubElement(root, "PES_PJ")
        _leaves(etree.SubElement(pj_part, "EnTetePES_PJ"), [("IdVer", 1)])
        for piece, edition in attachments:
            _write_attachment(pj_part, bordereau, piece, config, issuer)
    return _serialize(root)


def _write_piece(parent: etree._Element, bordereau: PesBordereau, piece: PesPiece, config: PesConfig,
                 edition: str | None) -> None:
    element = etree.SubElement(parent, "Piece")
    bloc = etree.SubElement(element, "BlocPiece")
    reduction = bordereau.kind == REDUCTIONS
    _leaves(bloc, [
        ("IdPce", piece.id_pce), ("TypPce", "02" if reduction else "01"),
        ("NatPce", NATURE_REDUCTION if reduction else piece.nature), ("Edition", edition),
        ("ObjPce", cut_text(piece.objet, MAX_OBJECT)),
    ])
    if edition:
        unique = asap_id(bordereau, piece, config)
        _leaves(etree.SubElement(bloc, "PJRef"),
                [("Support", "01"), ("IdUnique", unique), ("NomPJ", f"{unique}.xml"), ("TypePJ", "006")])
        chorus = edition == "02"
        _leaves(bloc, [
            ("NumeroFacture", piece.numero),
            ("NumeroEngagement", cut_text(piece.debtor.numero_engagement, 50)
             if chorus and piece.debtor.numero_engagement else None),
            ("CodeService", cut_text(piece.debtor.code_service, 100)
             if chorus and piece.debtor.code_service else None),
        ])
    for id_ligne, line in written_lines(piece.lines):
        ligne = etree.SubElement(element, "LigneDePiece")
        bloc_ligne = etree.SubElement(ligne, "BlocLignePiece")
        _leaves(etree.SubElement(bloc_ligne, "InfoLignePiece"), [
            ("IdLigne", id_ligne), ("ObjLignePce", cut_text(line.label, MAX_OBJECT) if line.label else None),
            ("CodProdLoc", line.cod_prod_loc or config.cod_prod_loc), ("Nature", line.imputation),
            ("Fonction", line.fonction or config.fonction), ("Majo", 0), ("TvaIntraCom", 0),
            ("MtHT", amount(line.amount_cents)),
        ])
        if reduction:
            _leaves(etree.SubElement(bloc_ligne, "RattachPiece"), [
                ("NatPceOrig", piece.origin.nature), ("ExerRat", piece.origin.exercice), ("IdPceOrig", piece.origin.id_pce),
                ("IdLigneOrig", line.origin_line),
            ])
        _write_tiers(ligne, piece.debtor)


def _write_tiers(parent: etree._Element, debtor: PesDebtor) -> None:
    """The debtor, repeated on every line (TypTiers 01 main debtor); the SIRET only when its key is right."""
    tiers = etree.SubElement(parent, "Tiers")
    category, legal = DEBTOR_CATEGORIES[debtor.category]
    siret = debtor.siret if debtor.siret and siret_ok(debtor.siret) else None
    _leaves(etree.SubElement(tiers, "InfoTiers"), [
        ("IdTiers", siret), ("NatIdTiers", "01" if siret else None), ("CatTiers", category), ("NatJur", legal),
        ("TypTiers", "01"), *_name_fields(debtor.name),
    ])
    _leaves(etree.SubElement(tiers, "Adresse"), _address_fields(debtor.address))


# --------------------------------------------------------------------------- the ASAP attachment


def _write_attachment(parent: etree._Element, bordereau: PesBordereau, piece: PesPiece, config: PesConfig,
                      issuer: PesIssuer) -> None:
    unique = asap_id(bordereau, piece, config)
    content = asap_document(bordereau, piece, config, issuer)
    packed = base64.b64encode(gzip.compress(content, compresslevel=9, mtime=0)).decode("ascii")
    pj = etree.SubElement(parent, "PJ")
    fichier = etree.SubElement(etree.SubElement(pj, "Contenu"), "Fichier")
    fichier.set("MIMEType", "text/xml")
    fichier.text = packed
    _leaves(pj, [("IdUnique", unique), ("NomPJ", f"{unique}.xml"), ("TypePJ", "006"),
                 ("Description", f"Avis des sommes à payer du titre {piece.numero}")])


def asap_document(bordereau: PesBordereau, piece: PesPiece, config: PesConfig, issuer: PesIssuer) -> bytes:
    """The PES_Facture ASAP (TypeFact 09) of one titre, as its own PES_Aller document (before gzip)."""
    day = piece.date.isoformat()
    root = _document(f"{asap_id(bordereau, piece, config)}.xml", config, issuer, bordereau.date.isoformat())
    facture = etree.SubElement(root, "PES_Facture")
    _leaves(facture, [("IdVer", 2), ("Annee", bordereau.exercice), ("TypeFact", "09"), ("Date", day)])
    _write_issuer(facture, issuer, config)
    _write_centre(facture, "25", config.centre_encaissement.adresse, CENTRE_ENCAISSEMENT)
    _write_centre(facture, "26", config.centre_finances.adresse, (config.centre_finances.nom, None),
                  account=(issuer.comptable_bic, issuer.comptable_iban))
    indiv = etree.SubElement(facture, "FactureIndiv")
    _leaves(indiv, [("DateEmission", day), ("NumeroFacture", piece.numero)])
    debiteur = etree.SubElement(indiv, "Debiteur")
    category, legal = DEBTOR_CATEGORIES[piece.debtor.category]
    siret = piece.debtor.siret if piece.debtor.siret and siret_ok(piece.debtor.siret) else None
    _leaves(etree.SubElement(debiteur, "InfoTiers"), [
        ("IdTiers", siret), ("CatTiers", category), ("NatJur", legal), ("TypTiers", "01"),
        *_name_fields(piece.debtor.name)])
    _leaves(etree.SubElement(debiteur, "Adresse"), _address_fields(piece.debtor.address))
    _leaves(indiv, [("Objet", cut_text(piece.objet, MAX_OBJECT))])
    for order, (_, line) in enumerate(written_lines(piece.lines), start=1):
        _leaves(etree.SubElement(indiv, "LigneFacture"), [
            ("Date", day), ("Libelle", cut_text(line.label or piece.objet, 200)),
            ("MtBase", amount(line.amount_cents)), ("MtHT", amount(line.amount_cents)), ("TauxTVA", "0.00"),
            ("MtTVA", "0.00"), ("MtTTC", amount(line.amount_cents)), ("Ordre", order),
        ])
    total = amount(sum(line.amount_cents for _, line in written_lines(piece.lines)))
    _leaves(etree.SubElement(indiv, "TotalAPayer"),
            [("MtTotalHT", total), ("MtTotalTVA", "0.00"), ("MtTotalTTC", total)])
    _leaves(etree.SubElement(indiv, "RefTitre"), [
        ("Exercice", bordereau.exercice), ("NumBordereau", bordereau.number), ("NumTitre", piece.id_pce),
        ("NumLigne", 1)])
    _leaves(indiv, [
        ("ModalitesReglement", ASAP_REGLEMENT),
        ("ModalitesContestation", cut_text(
            f"Dans les deux mois suivant la réception de cet avis, devant le {issuer.tribunal} "
            "(article L1617-5 du CGCT).", 420)),
        ("ModeRecouvrement", 1), ("ConditionsGen", ASAP_CONDITIONS),
    ])
    etree.SubElement(facture, "Nomenclatures")
    return _serialize(root)


def _write_issuer(facture: etree._Element, issuer: PesIssuer, config: PesConfig) -> None:
    emetteur = etree.SubElement(facture, "Emetteur")
    _leaves(etree.SubElement(emetteur, "InfoTiers"), [
        ("IdTiers", issuer.siret), ("CatTiers", "24"), ("NatJur", "09"), ("TypTiers", "20"),
        *_name_fields(issuer.nom)])
    _leaves(etree.SubElement(emetteur, "Adresse"), _address_fields(issuer.adresse))
    _leaves(etree.SubElement(emetteur, "InfoSuppl"), [("RefBdf", config.ref_bdf)])
    signataire = etree.SubElement(emetteur, "Signataire")
    _leaves(etree.SubElement(signataire, "Personne"), [
        ("Nom", cut_text(issuer.signataire_nom, MAX_NAME)), ("Prenom", cut_text(issuer.signataire_prenom, MAX_NAME))])
    _leaves(signataire, [("Role", cut_text(issuer.qualite, 50))])


def _write_centre(facture: etree._Element, kind: str, address: PesAddress, names: tuple[str, str | None], *,
                  account: tuple[str | None, str | None] = (None, None)) -> None:
    """Tiers 25 (collection centre: fixed name, only Adr3 such as a TSA) or 26 (public finance centre,
    with the comptable's BIC and IBAN, which the PES_Facture rules require for it)."""
    tiers = etree.SubElement(facture, "Tiers")
    pieces = wrap_words(names[0], MAX_NAME)
    _leaves(etree.SubElement(tiers, "InfoTiers"), [
        ("CatTiers", "20"), ("NatJur", "07"), ("TypTiers", kind), ("Nom", pieces[0]),
        ("ComplNom", names[1] if names[1] else (pieces[1] if len(pieces) > 1 else None))])
    if kind == "25":
        street = " ".join(address.lines)
        fields = [("TypAdr", 1), ("Adr3", cut_text(street, MAX_NAME) if street else None),
                  ("CP", address.postal_code), ("Ville", cut_text(address.city, MAX_NAME)), ("CodRes", 0)]
    else:
        fields = _address_fields(address)
    _leaves(etree.SubElement(tiers, "Adresse"), fields)
    bic, iban = account
    if bic and iban:
        _leaves(etree.SubElement(tiers, "CpteBancaire"), [
            ("BIC", re.sub(r"\s", "", bic).upper()), ("IBAN", re.sub(r"\s", "", iban).upper()),
            ("TitCpte", cut_text(names[0], 32))])
