"""The committed datasheet of the default cohort stays what the generator writes."""
from pathlib import Path

from medfusion_lib.config import datasets_dir
from medfusion_lib.data import DEFAULT_N_PATIENTS, generate_cohort, load_cohort
from medfusion_lib.data.datasheet import write_datasheet

COMMITTED = Path(__file__).resolve().parents[1] / "datasets" / "default.datasheet.md"


def test_committed_default_datasheet_is_current():
    built = datasets_dir() / "default" / "build.json"
    cohort = load_cohort() if built.is_file() else generate_cohort(DEFAULT_N_PATIENTS, seed=0)
    if cohort.params.get("n_patients") != DEFAULT_N_PATIENTS or cohort.params.get("seed") != 0:
        cohort = generate_cohort(DEFAULT_N_PATIENTS, seed=0)
    assert COMMITTED.read_text(encoding="utf-8") == write_datasheet(cohort), (
        "datasets/default.datasheet.md is stale: run `medfusion data build --force` and copy "
        "datasets/default/datasheet.md over it")
