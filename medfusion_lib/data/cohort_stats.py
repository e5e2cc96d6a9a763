"""Small summaries of a cohort table, shared by the datasheet, `medfusion data info` and the lessons."""
from __future__ import annotations

import pandas as pd

from medfusion_lib.data.diagnoses import DIAGNOSES


def counts_table(patients: pd.DataFrame, rows: str, columns: str) -> pd.DataFrame:
    """Patients counted by two columns, with totals; diagnoses kept in their canonical order."""
    table = pd.crosstab(patients[rows], patients[columns], margins=True, margins_name="total")
    if rows == "diagnosis":
        order = [d for d in DIAGNOSES if d in table.index] + ["total"]
        table = table.loc[order]
    if columns == "split":
        table = table[[c for c in ("train", "val", "test", "total") if c in table.columns]]
    table.index.name = rows
    return table
