"""datasheet.md for a built cohort, after Gebru et al., "Datasheets for Datasets" (CACM 2021)."""
from __future__ import annotations

import pandas as pd

from medfusion_lib.data.cohort_stats import counts_table
from medfusion_lib.data.diagnoses import SITES


def _markdown(df: pd.DataFrame) -> str:
    header = "| " + " | ".join([df.index.name or "", *map(str, df.columns)]) + " |"
    rule = "|" + "---|" * (len(df.columns) + 1)
    rows = ["| " + " | ".join([str(i), *map(str, r)]) + " |" for i, r in zip(df.index, df.to_numpy())]
    return "\n".join([header, rule, *rows])


def write_datasheet(cohort) -> str:
    """The datasheet text for ``cohort`` (a medfusion_lib.data.Cohort)."""
    p, params = cohort.patients, cohort.params
    real = params.get("source") == "pneumoniamnist"
    n_noise = int(p["label_noise"].sum())
    image_note = (
        "Real chest X-rays from PneumoniaMNIST (MedMNIST v2; Yang et al., Sci Data 2023; derived from "
        "Kermany et al., Cell 2018; CC BY 4.0), 28x28 grayscale. Each patient's film is a real film of the "
        "matching kind (normal for URI/bronchitis, pneumonia for bacterial/viral pneumonia) but of a different, "
        "anonymous child: the pairing is artificial. The films come from one pediatric centre, so the site "
        "column says nothing about them. Heart failure and tuberculosis are left out: no real films of those "
        "classes are available, and the images cannot tell bacterial from viral pneumonia reliably."
        if real else
        f"Synthetic frontal chest radiographs, {params.get('image_size')}x{params.get('image_size')} grayscale, "
        "rendered procedurally (lung fields, heart and mediastinum, diaphragm domes, ribs, clavicles) with "
        "findings by diagnosis: lobar consolidation (bacterial pneumonia), bilateral interstitial haze (viral "
        "pneumonia), cardiomegaly with pleural effusion (heart failure), upper-lobe nodules or cavities "
        "(tuberculosis), normal films with natural variation (URI, bronchitis). About 18 % of diseased films "
        "show their finding only faintly. Each site adds its own exposure, blur, noise, rotation and a "
        "burned-in side marker in its own corner.")
    return f"""# Datasheet: MedFusion cohort

> **Semi-synthetic, educational, not for clinical use.** No record here describes a real person.

Built with: `{", ".join(f"{k}={params.get(k)}" for k in ("n_patients", "seed", "image_size", "source"))}`

## Motivation
Made for the MedFusion course, to teach multimodal diagnosis (symptom text + chest image + vitals) on a
laptop with no network. No public data set pairs symptom narratives with chest images at patient level and
can be shipped with a course, so the library generates one.

## Composition
{len(p)} patients, one row each in `patients.csv` (patient id, site, age, sex, temperature, heart rate,
respiratory rate, SpO2, free-text symptom narrative, voice, split, recorded diagnosis, simulated diagnosis,
label-noise flag), one image each in `images.npz` (same order), and `spans.csv`: every symptom phrase the
generator wrote, with character offsets, HPO concept id and whether it was negated.

{_markdown(counts_table(p, "diagnosis", "split"))}

{_markdown(counts_table(p, "diagnosis", "site"))}

## How it was made
- **Diagnoses** are drawn per site from a global prevalence times the site's case mix (sites: {", ".join(s.name for s in SITES)}).
- **Narratives** are written from a symptom lexicon whose entries carry Human Phenotype Ontology ids and,
  where one fits, ICD-10-CM R-codes. Each diagnosis has textbook symptom probabilities; a narrative is in the
  patient's voice (lay words) or a clinician's note voice (clinical terms, shorthand such as c/o, x3 days,
  SOB), with durations, severity, pertinent negatives ("denies chest pain", "no fever or chills"),
  distractor symptoms, risk factors, neutral context and about 3 % of symptom phrases with a typo.
- **Vitals** are drawn from per-diagnosis normal distributions (rounded, clipped to plausible ranges).
- **Images**: {image_note}
- **Label noise**: {n_noise} recorded diagnoses ({n_noise / max(len(p), 1):.1%}) differ from the simulated
  one (`true_diagnosis`), as in real records. Models train and are scored on the recorded `diagnosis`.
- **Splits** are stratified by recorded diagnosis (70/15/15){"; in real-image mode each patient takes the official MedMNIST split of its film" if real else ""}. No patient is in two splits.

## Known biases and limits
- Presentations are textbook: real patients are more varied, more often atypical and multimorbid.
- Text and image are complementary *by design* (the text separates URI from bronchitis, the image
  separates bacterial from viral pneumonia): fusion gains here are larger and cleaner than in practice.
- Sites differ in case mix *and* in film appearance, so a model can learn the site (for example its marker)
  instead of the disease: a deliberate trap for the fairness and site-shift lessons.
- Ages, sexes and vitals are simple parametric draws; no ethnicity, comorbidity or medication is modelled.
- The narratives are English only, with a limited vocabulary; extraction scores on them overstate what
  a system would achieve on real notes.

## Intended use
Teaching and exercises in the MedFusion course. **Not** for training or validating any clinical tool, and
not as evidence about any disease.

## Maintenance
Regenerate with `medfusion data build` (same seed → byte-identical files).
"""
