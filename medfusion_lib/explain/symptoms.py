"""Which words moved the diagnosis? Integrated gradients on the text branch, mapped back to the narrative.

The text modality is the symptom table (one "present" and one "absent" column per symptom, see
:mod:`medfusion_lib.fusion.features`). Integrated gradients (Sundararajan et al. 2017, captum's
``IntegratedGradients``) attributes the fused model's probability of a class to these columns, from a
baseline narrative that mentions nothing (all zeros) to the patient's own; the attributions add up to
p(patient) - p(baseline) (completeness). Each column's attribution is then placed on the spans of the
narrative where the extractor found that symptom stated (affirmed -> "present", negated -> "absent").
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from medfusion_lib.fusion.modalities import Modalities


class TextForward(nn.Module):
    """Raw text features (n, F) -> class probabilities (n, K) of a fitted joint model, the patients' other
    modalities held fixed. Standardisation happens inside, so attributions are per raw feature.

    The other branches' embeddings (the CNN on the film, above all) do not change along the integration
    path, so they are computed once; each step only re-runs the text branch, the fusion layer and the head
    (the same steps as ``JointNet.forward``).
    """

    def __init__(self, model, data: Modalities, modality: str = "text"):
        super().__init__()
        if modality not in getattr(model, "names_", ()):
            raise ValueError(f"the model was not fitted with a {modality!r} modality")
        self.net = model.net_
        xs, self.present = model.tensors(data)
        self.index = list(model.names_).index(modality)
        self.branch = list(self.net.branches.values())[self.index]
        with torch.no_grad():
            self.fixed = [branch(x) for branch, x in zip(self.net.branches.values(), xs)]  # (n, d) each
        mean, std = model.scaler_.stats_[modality]
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.std = torch.as_tensor(std, dtype=torch.float32)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        repeat = raw.shape[0] // len(self.present)  # captum stacks the integration steps
        parts = [h.repeat(repeat, 1) for h in self.fixed]
        parts[self.index] = self.branch((raw - self.mean) / self.std)
        H = torch.stack(parts, dim=1)                                           # (n * steps, M, d)
        present = self.present.repeat(repeat, 1)
        H = torch.where(present.unsqueeze(2), H, self.net.missing.unsqueeze(0).expand_as(H))
        fused, _ = self.net.fusion(H)
        return torch.softmax(self.net.head(fused), dim=1)


def text_attributions(model, data: Modalities, target, n_steps: int = 32,
                      modality: str = "text") -> tuple[np.ndarray, np.ndarray]:
    """Integrated gradients of p(target) w.r.t. each raw text feature, from an all-zero baseline.

    Returns attributions (n, F) and the completeness gap (n,): sum of attributions - (p(x) - p(baseline)),
    which should be near zero (more ``n_steps`` make it smaller).
    """
    from captum.attr import IntegratedGradients

    forward = TextForward(model, data, modality)
    raw = torch.from_numpy(data.features[modality]).float()
    target = torch.as_tensor(np.broadcast_to(np.asarray(target), (len(data),)).copy(), dtype=torch.long)
    with torch.enable_grad():
        attributions, delta = IntegratedGradients(forward).attribute(
            raw, baselines=torch.zeros_like(raw), target=target, n_steps=n_steps,
            return_convergence_delta=True)
    return attributions.detach().numpy().astype(float), delta.detach().numpy().astype(float)


def symptom_spans(narrative: str, attributions: np.ndarray, feature_names: Sequence[str]) -> pd.DataFrame:
    """The extracted symptom spans of one narrative with the attribution of the feature each one set.

    attributions: (F,) for this patient; feature_names: (F,) such as "Fever: present". Columns: start,
    end, text, label, negated, feature, attribution (NaN when the symptom has no column).
    """
    from medfusion_lib.text.extract import extract_mentions

    attributions = np.asarray(attributions, dtype=float)
    if attributions.shape != (len(feature_names),):
        raise ValueError(f"need one attribution per feature ({len(feature_names)}); got {attributions.shape}")
    column = {name: i for i, name in enumerate(feature_names)}
    rows = []
    for m in extract_mentions(narrative):
        feature = f"{m.label}: {'absent' if m.negated else 'present'}"
        value = attributions[column[feature]] if feature in column else np.nan
        rows.append({"start": m.start, "end": m.end, "text": narrative[m.start:m.end], "label": m.label,
                     "negated": bool(m.negated), "feature": feature, "attribution": float(value)})
    return pd.DataFrame(rows, columns=["start", "end", "text", "label", "negated", "feature", "attribution"])


def highlight_html(narrative: str, spans: pd.DataFrame, scale: float | None = None) -> str:
    """The narrative as HTML with each span shaded green (+, for the class) or red (-, against it), the
    shade proportional to |attribution| / ``scale`` (default: the largest |attribution|)."""
    ordered = spans.sort_values("start")
    values = ordered["attribution"].fillna(0.0).to_numpy(float)
    peak = float(np.abs(values).max()) if len(values) else 0.0
    scale = scale or (peak if peak > 0 else 1.0)
    out, cursor = [], 0
    for start, end, value in zip(ordered["start"].astype(int), ordered["end"].astype(int), values):
        if start < cursor:  # overlapping mentions: shade only the first
            continue
        alpha = min(1.0, abs(value) / scale) * 0.8
        colour = f"rgba(0,150,0,{alpha:.2f})" if value >= 0 else f"rgba(200,0,0,{alpha:.2f})"
        out.append(html.escape(narrative[cursor:start]))
        out.append(f'<span style="background:{colour}" title="{value:+.3f}">{html.escape(narrative[start:end])}</span>')
        cursor = end
    out.append(html.escape(narrative[cursor:]))
    return "".join(out)
