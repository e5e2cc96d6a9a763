"""Model cards (Mitchell et al., *Model Cards for Model Reporting*, FAT* 2019) for the fused models (lesson 17).

::

    from medfusion_lib.modelcard import measure_model_card, write_model_card
    facts = measure_model_card(model, feats, cohort.patients, name="late_mean", cohort_params=cohort.params)
    write_model_card(facts, "build/model_card.md")

- :mod:`~medfusion_lib.modelcard.measure` — every number the card reports, measured on a fitted model;
- :mod:`~medfusion_lib.modelcard.render` — the Markdown (``REQUIRED_SECTIONS``), written atomically, and read back.
"""
from medfusion_lib.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "measure": ["CardFacts", "measure_model_card"],
    "render": ["PLACEHOLDERS", "REQUIRED_SECTIONS", "card_sections", "find_placeholders", "missing_sections",
               "read_card_tables", "render_model_card", "write_model_card"],
})
