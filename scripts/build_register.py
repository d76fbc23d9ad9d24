"""Build ``billing/inputs/data/communes.parquet`` from the official register CSV.

The only code allowed to read ``/work/shared``: run it by hand when the register is
updated, then commit the parquet (the product never reads the CSV at run time).

    python scripts/build_register.py [SOURCE_CSV] [--out billing/inputs/data/communes.parquet]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billing.inputs.register import REGISTER_PATH, fold_name_expr  # noqa: E402

DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "communes_france.csv"
TYPES = ("COM", "COMD", "COMA", "ARM", "SRM")
MAX_BYTES = 3 * 1024 * 1024


def build_register(source: Path) -> pl.DataFrame:
    """The typed register frame (one row per code and type), sorted by type then code."""
    raw = pl.read_csv(source, infer_schema=False, encoding="utf8")
    missing = {"code_insee", "type", "libelle", "nom", "tncc", "code_parent", "population_municipale",
               "codes_postaux", "departement"} - set(raw.columns)
    if missing:
        raise SystemExit(f"{source}: colonnes manquantes : {', '.join(sorted(missing))}")
    text = [pl.col(c).str.strip_chars() for c in raw.columns]
    raw = raw.with_columns(text).with_columns(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).name.keep()
                                              for c in raw.columns)
    register = raw.select(
        pl.col("code_insee"),
        pl.col("type"),
        pl.col("libelle"),
        pl.col("nom"),
        pl.col("tncc").cast(pl.Int8),
        pl.col("code_parent"),
        pl.col("population_municipale").cast(pl.Int64).alias("population"),
        # The CSV separates several postal codes with a space (« 01190 01380 »).
        pl.col("codes_postaux").str.split(" ").list.eval(pl.element().filter(pl.element() != "")),
        pl.col("departement"),
        pl.col("departement_nom"),
        pl.col("region"),
        pl.col("region_nom"),
        pl.col("epci_siren"),
        pl.col("epci_nom"),
        pl.col("mairie_adresse"),
        fold_name_expr(pl.col("libelle")).alias("cle"),
    )
    _check(register)
    order = {t: i for i, t in enumerate(TYPES)}
    return register.sort(pl.col("type").replace_strict(order, return_dtype=pl.Int8), "code_insee")


def _check(register: pl.DataFrame) -> None:
    """Refuse to ship a register that breaks what ``billing.inputs.register`` relies on."""
    problems = []
    unknown_types = set(register["type"].unique().to_list()) - set(TYPES)
    if unknown_types:
        problems.append(f"types inconnus : {sorted(unknown_types)}")
    com = register.filter(pl.col("type") == "COM")
    if com["code_insee"].n_unique() != com.height:
        problems.append("code_insee de COM en double")
    if not com["code_insee"].str.contains(r"^(\d{5}|2[AB]\d{3})$").all():
        problems.append("code_insee de COM mal formé")
    orphans = register.filter(pl.col("type") != "COM", ~pl.col("code_parent").is_in(com["code_insee"].implode()))
    if orphans.height:
        problems.append(f"{orphans.height} lignes dont le code_parent n'est pas une COM")
    if register["cle"].eq("").any():
        problems.append("nom vide après repliement")
    if register["tncc"].is_null().any():
        problems.append("tncc manquant")
    if problems:
        raise SystemExit("registre refusé : " + " ; ".join(problems))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=REGISTER_PATH)
    args = parser.parse_args(argv)
    register = build_register(args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".parquet.tmp")
    register.write_parquet(tmp, compression="zstd", compression_level=19, statistics=False)
    tmp.replace(args.out)
    size = args.out.stat().st_size
    counts = ", ".join(f"{t} {n}" for t, n in register.group_by("type").len().sort("type").iter_rows())
    print(f"{args.out}: {register.height} lignes ({counts}), {size / 1024:.0f} Kio")
    if size > MAX_BYTES:
        raise SystemExit(f"{args.out} dépasse {MAX_BYTES // (1024 * 1024)} Mio")


if __name__ == "__main__":
    main()
