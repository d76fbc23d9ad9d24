"""Entry point for the input tables: the names the rest of the program imports, re-exported.

The work is done in one module per job:

- ``tables``  — read a CSV/XLSX table by its canonical columns, find input files, hash them;
- ``csvfile`` — CSV bytes -> cells (encoding, separator, quoting);
- ``xlsx``    — the safe workbook reader (zip bombs, DTDs, formulas, error cells);
- ``grid``    — the common shape of a table as read (``Table``), header matching, text cleaning;
- ``cells``   — typing cells: French numbers and dates, INSEE codes, UAI, SIRET (``coerce``);
- ``pupils``  — the effectifs file in its three forms, and the Annuaire de l'éducation.
"""

from billing.inputs.cells import coerce
from billing.inputs.grid import Table, fold_header
from billing.inputs.pupils import PupilCounts, read_annuaire, read_pupil_counts
from billing.inputs.tables import find_input, read_table, sha256_file

__all__ = ["PupilCounts", "Table", "coerce", "find_input", "fold_header", "read_annuaire", "read_pupil_counts",
           "read_table", "sha256_file"]
