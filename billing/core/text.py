"""Plain-text rules shared by the stages that name things (file names of notices and simulations)."""

from __future__ import annotations

import re
import unicodedata

LIGATURES = {"œ": "oe", "æ": "ae", "ß": "ss"}
_LIGATURE_TABLE = str.maketrans(LIGATURES)
_SLUG_DROP = re.compile(r"[^a-z0-9]+")
SLUG_MAX = 60


def slug(text: str | None) -> str:
    """A file-name-safe piece: ascii lowercase, [a-z0-9-], at most 60 characters, never empty.

    « Marcq-en-Barœul » → « marcq-en-baroeul »; it can hold no dot or slash, so never
    « . », « .. » or a path.
    """
    lowered = (text or "").lower().translate(_LIGATURE_TABLE)
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", lowered) if ch.isascii())
    dashed = _SLUG_DROP.sub("-", bare).strip("-")
    return dashed[:SLUG_MAX].rstrip("-") or "sans-nom"
