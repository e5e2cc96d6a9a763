"""A one-patient case report: the film with its Grad-CAM map, the narrative with the symptom spans that
pushed for (+, green) or against (-, red) the predicted diagnosis, the vitals, the modality contributions
(per-patient ablation) and the probability with its referral decision."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class CaseReport:
    """Everything one figure shows about one patient."""

    patient_id: str
    film: np.ndarray              # (H, W) uint8
    heatmap: np.ndarray           # (H, W) float, Grad-CAM of the predicted class, upsampled
    mask: np.ndarray | None       # (H, W) bool, where the generator drew a finding (None: unknown)
    narrative: str
    spans: pd.DataFrame           # symptom_spans(...) for the predicted class
    vitals: dict
    contributions: dict           # modality -> p(predicted | all) - p(predicted | without it)
    proba: np.ndarray             # (K,)
    classes: tuple
    true_label: str
    threshold: float              # refer to a clinician when max(proba) < threshold

    @property
    def predicted(self) -> str:
        return self.classes[int(np.argmax(self.proba))]

    @property
    def refer(self) -> bool:
        return float(np.max(self.proba)) < self.threshold


def referral_threshold(y_val: np.ndarray, proba_val: np.ndarray, target_accuracy: float = 0.9) -> float:
    """The lowest confidence t such that validation patients with max-probability >= t are diagnosed with
    at least ``target_accuracy``; patients below t are referred. 1.0 when no t reaches the target."""
    confidence = proba_val.max(axis=1)
    correct = proba_val.argmax(axis=1) == np.asarray(y_val)
    for t in np.unique(confidence):
        kept = confidence >= t
        if correct[kept].mean() >= target_accuracy:
            return float(t)
    return 1.0


#: Advance width of a monospace glyph (DejaVu Sans Mono) as a fraction of the font size.
MONO_ADVANCE = 0.602


def _draw_highlighted(ax, narrative: str, spans: pd.DataFrame, fontsize: float = 8.0) -> None:
    """The narrative, wrapped to the axes' width, each symptom span boxed green (+) or red (-) by its
    attribution. Call after the figure's layout is final: positions are computed from the axes' size."""
    values = spans["attribution"].fillna(0.0).to_numpy(float) if len(spans) else np.zeros(0)
    scale = float(np.abs(values).max()) if len(values) and np.abs(values).max() > 0 else 1.0
    colour_of = np.zeros(len(narrative))                       # attribution per character
    for start, end, value in zip(spans.get("start", []), spans.get("end", []), values):
        colour_of[int(start):int(end)] = value
    width_pt = ax.get_position().width * ax.figure.get_size_inches()[0] * 72
    char = fontsize * MONO_ADVANCE / width_pt                  # one character, in axes fractions
    width = max(20, int(1 / char) - 1)
    lines, pos = [], 0
    for line in textwrap.wrap(narrative, width):
        pos = narrative.index(line, pos)
        lines.append((pos, line))
        pos += len(line)
    ax.axis("off")
    height = 1.0 / max(len(lines) + 1, 8)
    for row, (offset, line) in enumerate(lines):
        y = 1.0 - (row + 1) * height
        start = 0  # split the line into runs of equal attribution: one text (and box) per run
        for k in range(1, len(line) + 1):
            if k == len(line) or colour_of[offset + k] != colour_of[offset + start]:
                value = colour_of[offset + start]
                box = None
                if value != 0:
                    shade = (0.0, 0.6, 0.0) if value > 0 else (0.8, 0.0, 0.0)
                    box = {"facecolor": (*shade, 0.15 + 0.6 * min(1.0, abs(value) / scale)), "pad": 1,
                           "edgecolor": "none"}
                ax.text(start * char, y, line[start:k], family="DejaVu Sans Mono", fontsize=fontsize,
                        transform=ax.transAxes, bbox=box)
                start = k


def plot_case_report(report: CaseReport, title: str | None = None):
    """One figure (film + heat map | narrative | vitals and contributions | probabilities); returns it."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 5.2))
    grid = fig.add_gridspec(2, 3, width_ratios=[1.0, 2.2, 1.3], height_ratios=[1, 1])
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(report.film, cmap="gray")
    ax.imshow(report.heatmap, cmap="jet", alpha=0.35)
    if report.mask is not None and report.mask.any():
        ax.contour(report.mask, levels=[0.5], colors="white", linewidths=0.8)
    peak = np.unravel_index(np.argmax(report.heatmap), report.heatmap.shape)
    ax.plot(peak[1], peak[0], "w+", markersize=12)
    ax.set_title("film + Grad-CAM (+ = peak,\nwhite line = drawn finding)", fontsize=9)
    ax.axis("off")

    text_ax = fig.add_subplot(grid[0, 1])
    text_ax.axis("off")
    text_ax.set_title(f"narrative: green pushed towards '{report.predicted}', red against", fontsize=9)
    ax = fig.add_subplot(grid[1, 1])
    ax.axis("off")
    ax.table(cellText=[[k, v] for k, v in report.vitals.items()], colLabels=["vital sign", "value"],
             loc="center", cellLoc="left").scale(1, 1.2)

    ax = fig.add_subplot(grid[0, 2])
    names = list(report.contributions)
    values = [report.contributions[n] for n in names]
    ax.barh(names, values, color=["tab:green" if v >= 0 else "tab:red" for v in values])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_title("drop in p(predicted) without each modality", fontsize=9)
    ax = fig.add_subplot(grid[1, 2])
    order = np.argsort(report.proba)
    ax.barh([report.classes[i] for i in order], report.proba[order], color="tab:blue")
    ax.axvline(report.threshold, color="tab:orange", linestyle="--", label=f"referral t = {report.threshold:.2f}")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    decision = "REFER to a clinician" if report.refer else "confident"
    ax.set_title(f"p = {report.proba.max():.2f}: {decision}", fontsize=9)
    fig.suptitle(title or f"{report.patient_id}: predicted {report.predicted}, recorded {report.true_label}",
                 fontsize=11)
    fig.tight_layout()
    _draw_highlighted(text_ax, report.narrative, report.spans)  # after the layout: it measures the axes
    return fig


def make_case_report(study, index: int, threshold: float, split: str = "test") -> CaseReport:
    """The :class:`CaseReport` of patient ``index`` (a row of ``split``) of a :class:`ExplainStudy`."""
    from medfusion_lib.data import VITALS
    from medfusion_lib.explain.gradcam import gradcam_captum
    from medfusion_lib.explain.shapley import ablation
    from medfusion_lib.explain.symptoms import symptom_spans, text_attributions
    from medfusion_lib.fusion.joint import lookup_rows

    data = study.films[split]
    if not 0 <= index < len(data):
        raise IndexError(f"index {index} is outside the {len(data)} {split} patients")
    one = data.subset([index])
    model = study.model
    proba = model.predict_proba(one)[0]
    predicted = int(np.argmax(proba))
    row = int(lookup_rows(study.cohort, one.patient_ids)[0])
    film = study.cohort.images[row]
    heatmap = gradcam_captum(model.film_forward(one), model.target_layer, model.films(one), predicted,
                             size=film.shape)[0].numpy()
    attributions, _ = text_attributions(model, one, predicted)
    patient = study.cohort.patients.iloc[row]
    spans = symptom_spans(patient["narrative"], attributions[0], study.features.feature_names["text"])
    contributions = {m: float(-ablation(model, one, m, np.array([predicted]))[0]) for m in model.names_}
    mask = study.cohort.finding_masks()[row] if study.cohort.masks is not None else None
    classes = tuple(study.features.classes[c] for c in model.classes_)
    return CaseReport(str(one.patient_ids[0]), film, heatmap, mask, patient["narrative"], spans,
                      {v: patient[v] for v in (*VITALS, "age")}, contributions, proba, classes,
                      str(patient["diagnosis"]), threshold)
