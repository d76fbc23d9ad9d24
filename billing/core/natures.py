"""The four natures of a titre, their French names, and the one sign rule (DESIGN §5).

A *debit* (``titre``, ``complementaire``) adds to what a commune owes; a *credit*
(``reduction``, ``annulation``) is stored with a positive amount, cites one debit titre,
and takes its amount off: ``signed`` is the only place that says so.
"""

from __future__ import annotations

from typing import Literal

Nature = Literal["titre", "complementaire", "reduction", "annulation"]
NATURES: tuple[str, ...] = ("titre", "complementaire", "reduction", "annulation")
DEBITS: tuple[str, ...] = ("titre", "complementaire")
CREDITS: tuple[str, ...] = ("reduction", "annulation")
NATURE_LABELS = {"titre": "titre", "complementaire": "titre complémentaire", "reduction": "réduction",
                 "annulation": "annulation"}


def signed(nature: str, cents: int) -> int:
    """What a titre of this nature and (positive) amount adds to its commune's net."""
    return -cents if nature in CREDITS else cents


def nature_label(nature: str, *, capitalized: bool = False) -> str:
    """« titre complémentaire » (or « Titre complémentaire »); an unknown code is shown as it is."""
    label = NATURE_LABELS.get(nature, nature)
    return label[:1].upper() + label[1:] if capitalized else label
