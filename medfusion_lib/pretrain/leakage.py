"""The leakage trap of image–text pre-training: narratives that *name* the diagnosis.

Contrastive pre-training is meant to learn from narratives instead of diagnosis labels. A narrative that says
"treated for TB" or "got over the flu" hands the label to the text encoder; zero-shot prompts that name the
diagnosis then "work" because the label was in the training text, and the evaluation no longer measures what
pre-training learned from symptoms. The cohort's generator writes no diagnosis into the symptom sentences, but
its risk-factor sentences do name diseases ("high TB incidence", "kids at home have had colds", "recently got
over the flu" — see ``PRESENTATIONS[...].risk_factors`` in :mod:`medfusion_lib.data.diagnoses`), and real
reports name diagnoses all the time ("consistent with pneumonia").

:func:`mask_diagnosis_words` removes every diagnosis word or phrase (:data:`DIAGNOSIS_PATTERNS`) before
pre-training; the rest of the sentence (a relative was treated, a recent illness) stays, as it would in a
history a clinician reads. The zero-shot prompts (:mod:`medfusion_lib.pretrain.zero_shot`) describe symptoms,
never diagnosis words, and :func:`find_diagnosis_words` checks that too.
"""
from __future__ import annotations

import re
from typing import Iterable

#: Diagnosis names, abbreviations and lay words for the six diagnoses (and the illnesses the histories name),
#: as regular expressions matched case-insensitively on word boundaries. Longer phrases come first.
DIAGNOSIS_PATTERNS: tuple[str, ...] = (
    r"upper respiratory (?:tract )?infections?", r"respiratory infections?", r"common colds?", r"colds?",
    r"u\.?r\.?t?\.?i\.?s?", r"acute bronchitis", r"bronchitis", r"bronchiolitis",
    r"(?:bacterial|viral|lobar|atypical|community[- ]acquired) pneumonias?", r"pneumonias?", r"pneumonitis",
    r"bacterial", r"viral", r"virus(?:es)?", r"influenza", r"flu",
    r"congestive heart failure", r"heart failure", r"cardiac failure", r"c\.?h\.?f\.?", r"hf[rp]ef",
    r"tuberculosis", r"tubercular", r"t\.?b\.?",
)
_PATTERN = re.compile(r"(?<![\w-])(?:" + "|".join(DIAGNOSIS_PATTERNS) + r")(?![\w-])", re.IGNORECASE)


def find_diagnosis_words(text: str) -> list[str]:
    """The diagnosis words and phrases found in ``text``, in order (``[]`` when it names none)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string; got {type(text).__name__}")
    return [m.group(0) for m in _PATTERN.finditer(text)]


def mask_diagnosis_words(text: str) -> str:
    """``text`` with every diagnosis word or phrase removed (and the spaces around it tidied).

    >>> mask_diagnosis_words("A relative was treated for TB last year.")
    'A relative was treated for last year.'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string; got {type(text).__name__}")
    masked = _PATTERN.sub("", text)
    masked = re.sub(r"[ \t]{2,}", " ", masked)          # "for  last" -> "for last"
    return re.sub(r" +([.,;:!?])", r"\1", masked).strip()


def mask_narratives(texts: Iterable[str]) -> list[str]:
    """:func:`mask_diagnosis_words` on every narrative; a list of the same length."""
    return [mask_diagnosis_words(t) for t in texts]


def leakage_report(texts: Iterable[str]) -> dict[str, float]:
    """How many narratives name a diagnosis before and after masking: counts and shares."""
    texts = list(texts)
    before = sum(bool(find_diagnosis_words(t)) for t in texts)
    after = sum(bool(find_diagnosis_words(t)) for t in mask_narratives(texts))
    n = max(len(texts), 1)
    return {"n_narratives": len(texts), "naming_diagnosis": before, "share_naming_diagnosis": before / n,
            "naming_diagnosis_after_masking": after, "share_after_masking": after / n}
