"""The values a PES V2 « Recette » file is written from (DGFiP Hélios, XSD v5.30).

Pure, frozen values: the ``[pes]`` settings of syndicat.toml (``PesConfig``), the issuer
(``PesIssuer``) and one bordereau of titres or of réductions (``PesBordereau`` →
``PesPiece`` → ``PesLine``, each piece naming its ``PesDebtor``). The writer
(``billing.render.pes``) turns them into XML and never looks anything up: every number,
date and amount comes from the ledger through these values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

BordereauKind = Literal["01", "02"]  # TypBord 01 titres (and complémentaires), 02 réductions / annulations

TITRES: BordereauKind = "01"
REDUCTIONS: BordereauKind = "02"

# Debtor category -> (CatTiers, NatJur). Commune 23×09 is the pair the fact sheet names (annex grid not
# published with the XSD); the others follow the same code lists: 24 groupement de collectivités
# (EPCI, syndicat), 29 other public body, all with NatJur 09 « collectivité territoriale / EP local ».
DEBTOR_CATEGORIES: dict[str, tuple[str, str]] = {
    "commune": ("23", "09"),
    "epci": ("24", "09"),
    "syndicat": ("24", "09"),
    "autre": ("29", "09"),
}

# NatPce of an ordinary titre (operating income) and of a titre complémentaire; 06 for a réduction.
NATURE_ORDINARY = "01"
NATURE_COMPLEMENTARY = "07"
NATURE_REDUCTION = "06"
TITRE_NATURES = (NATURE_ORDINARY, NATURE_COMPLEMENTARY)


@dataclass(frozen=True)
class PesAddress:
    """A postal address cut the way Hélios stores it: street lines, 5-digit postal code, town."""

    lines: tuple[str, ...]
    postal_code: str
    city: str


_ADDRESS = re.compile(r"^(?:(?P<street>.*?)[,\s]+)?(?P<cp>\d{5})\s+(?P<city>\S.*)$", re.S)


def split_address(text: str) -> PesAddress | None:
    """« 12 rue X, 59000 Lille » -> PesAddress(("12 rue X",), "59000", "Lille"); None when no postal code.

    Street lines are separated by commas or line breaks (« Hôtel de ville, 1 place … »).
    """
    flat = ", ".join(str(text).replace("\r", "\n").split("\n"))
    match = _ADDRESS.match(flat.strip())
    if not match:
        return None
    street = [part.strip() for part in re.split(r"[,;]", match["street"] or "") if part.strip()]
    return PesAddress(tuple(" ".join(part.split()) for part in street), match["cp"], " ".join(match["city"].split()))


def split_person(text: str) -> tuple[str, str]:
    """« Christophe COULON » -> ("Christophe", "COULON"): the ASAP's signatory needs first name and name apart.

    The name is the trailing words written in capitals (« Jean-Marc DE LA TOUR »); without
    any, the last word. A single word is a name with no first name ("").
    """
    words = " ".join(str(text).split()).split(" ")
    if len(words) < 2:
        return "", words[0] if words else ""
    start = len(words)
    while start > 1 and words[start - 1].isupper():
        start -= 1
    if start == len(words):
        start = len(words) - 1
    return " ".join(words[:start]), " ".join(words[start:])


@dataclass(frozen=True)
class PesCentre:
    """A centre the ASAP names: the collection centre (TypTiers 25) or the public finance centre (26)."""

    nom: str
    adresse: PesAddress


@dataclass(frozen=True)
class PesConfig:
    """The ``[pes]`` table of syndicat.toml, checked (``billing.inputs.pes_config.read_pes``)."""

    id_post: str  # poste comptable, 6–7 digits
    cod_col: str  # 3 digits
    cod_bud: str  # 2 characters [0-9A-Z][0-9]
    id_coll: str  # SIRET of the collectivité (default: the syndicate's)
    cod_prod_loc: str  # local product code, 1–4 letters or digits
    ref_bdf: str  # Banque de France reference printed on the ASAP (RefBdf)
    centre_encaissement: PesCentre
    centre_finances: PesCentre
    fonction: str | None = None  # functional code (M57), digits
    edition: str | None = None  # "01" forces the DGFiP edition for every debtor; None/"02": by SIRET


@dataclass(frozen=True)
class PesIssuer:
    """The syndicate as the ASAP shows it: name, SIRET, address, the ordonnateur who signs."""

    nom: str
    siret: str
    adresse: PesAddress
    signataire_nom: str
    signataire_prenom: str
    qualite: str = "Président"
    tribunal: str = "Tribunal administratif de Lille"
    comptable_iban: str | None = None  # the comptable's account, printed for the finance centre (Tiers 26)
    comptable_bic: str | None = None


@dataclass(frozen=True)
class PesDebtor:
    """The debtor of a titre (one per titre: Edition 01 and 02 are mono-débiteur)."""

    name: str
    address: PesAddress
    siret: str | None = None
    category: str = "commune"  # key of DEBTOR_CATEGORIES
    code_service: str | None = None  # Chorus Pro service code, optional
    numero_engagement: str | None = None  # Chorus Pro commitment number, optional


@dataclass(frozen=True)
class PesLine:
    """One competence of a titre: its imputation (Nature), amount in cents (> 0 once written).

    ``origin_line`` is, for a réduction, the IdLigne of the original titre's line it reduces.
    ``cod_prod_loc`` and ``fonction`` default to the ``[pes]`` values.
    """

    imputation: str
    amount_cents: int
    label: str | None = None
    cod_prod_loc: str | None = None
    fonction: str | None = None
    origin_line: int | None = None


@dataclass(frozen=True)
class PesOrigin:
    """The titre a réduction / annulation points at (RattachPiece): its IdPce, exercice and NatPce."""

    id_pce: int
    exercice: int
    nature: str = NATURE_ORDINARY  # NatPceOrig: 07 when the reduced titre is a complémentaire


@dataclass(frozen=True)
class PesPiece:
    """One titre (or one réduction): IdPce = its sequence number, NumeroFacture = its full number."""

    id_pce: int
    numero: str  # ENT-2024-0001
    date: date  # date of issue, from the ledger
    objet: str
    debtor: PesDebtor
    lines: tuple[PesLine, ...]
    nature: str = NATURE_ORDINARY  # NatPce of a titre: 01 ordinary, 07 complémentaire
    origin: PesOrigin | None = None  # required for a réduction / annulation

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@dataclass(frozen=True)
class PesBordereau:
    """One bordereau: exercice, kind (TypBord 01 / 02), IdBord from the ledger, its date, its pieces."""

    exercice: int
    kind: BordereauKind
    number: int
    date: date
    pieces: tuple[PesPiece, ...]


def written_lines(lines: tuple[PesLine, ...]) -> tuple[tuple[int, PesLine], ...]:
    """The lines a piece carries, with their IdLigne: zero-amount lines are left out, the rest numbered 1, 2, …

    A réduction's ``origin_line`` must use these numbers (the IdLigne the original titre was written with).
    """
    kept = [line for line in lines if line.amount_cents != 0]
    return tuple((index, line) for index, line in enumerate(kept, start=1))
