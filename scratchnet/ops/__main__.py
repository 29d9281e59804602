"""``python -m scratchnet.ops``: the derivations table of ``docs/README.md``, from the op records
(paste it over the table's first rows; ``tests/test_records.py`` fails until it is there)."""

from . import RECORDS
from .record import docs_table

print(docs_table(RECORDS))
