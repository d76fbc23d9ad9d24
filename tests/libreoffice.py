"""Recalculate workbooks with LibreOffice headless, the way the tests need it.

A fresh profile asks LibreOffice to recompute every formula on load (never trust cached
values). LibreOffice's batch conversion has been seen to drop files silently on a first
start with a new profile (53 of 300 once): files go in batches, and any missing output
is converted again on its own; a file still missing fails the test.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

RECALC_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""
BATCH = 40


def recalculate(soffice: str, files: Sequence[Path], out: Path, work: Path, *, to: str = "xlsx:Calc MS Excel 2007 XML",
                timeout: int = 600) -> list[Path]:
    """Convert ``files`` into ``out`` (recalculated); returns the converted paths, in order."""
    profile = work / "lo" / "user"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "registrymodifications.xcu").write_text(RECALC_PROFILE, encoding="utf-8")
    extension = to.split(":")[0]
    target = [out / f"{Path(f).stem}.{extension}" for f in files]

    def convert(batch):
        return subprocess.run([soffice, "--headless", f"-env:UserInstallation={(work / 'lo').as_uri()}",
                               "--convert-to", to, "--outdir", str(out), *map(str, batch)],
                              capture_output=True, text=True, timeout=timeout)

    for start in range(0, len(files), BATCH):
        convert(files[start:start + BATCH])
    for source, result in zip(files, target):
        if not result.exists():
            run = convert([source])
            assert result.exists(), f"LibreOffice n'a pas converti {source} : {run.returncode} {run.stderr[-500:]}"
    return target


def spoil_cached_values(source: Path, target: Path, part: str = "xl/worksheets/sheet1.xml") -> int:
    """Copy a workbook with every formula's cached value in ``part`` set to 999999: a reader that
    shows the right amount afterwards has recalculated it. Returns how many values were spoiled."""
    import re
    import zipfile

    spoiled = 0
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == part:
                data, spoiled = re.subn(rb"(</f><v>)[^<]*(</v>)", rb"\g<1>999999\g<2>", data)
            copy.writestr(info, data)
    return spoiled


def notice_total(path: Path):
    """The « Montant total » a recalculated notice shows, as a Decimal to the cent."""
    from decimal import Decimal

    from openpyxl import load_workbook

    sheet = load_workbook(path, data_only=True).active
    row = next(row for row in sheet.iter_rows() if any(str(c.value or "").startswith("Montant total") for c in row))
    value = next(c.value for c in row if isinstance(c.value, (int, float)))
    return round(Decimal(str(value)), 2)
