"""Model cards (Mitchell et al., *Model Cards for Model Reporting*, FAT* 2019) for the fused models (lesson 17).

::

    from medfusion_lib.modelcard import measure_model_card, write_model_card
    facts = measure_model_card(model, feats, cohort.patients, name="late_mean", cohort_params=cohort.params)
    write_model_card(facts, "build/model_card.md")

- :mod:`~medfusion_lib.modelcard.measure` — every number the card reports, measured on a fitted model;
- :mod:`~medfusion_lib.modelcard.render` — the Markdown (``REQUIRED_SECTIONS``), written atomically, and read back.
"""
from medfusion_lib.modelcard.measure import CardFacts, measure_model_card
from medfusion_lib.modelcard.render import (PLACEHOLDERS, REQUIRED_SECTIONS, card_sections, find_placeholders,
                                            missing_sections, read_card_tables, render_model_card,
                                            write_model_card)

__all__ = ["CardFacts", "PLACEHOLDERS", "REQUIRED_SECTIONS", "card_sections", "find_placeholders",
           "measure_model_card", "missing_sections", "read_card_tables", "render_model_card", "write_model_card"]
