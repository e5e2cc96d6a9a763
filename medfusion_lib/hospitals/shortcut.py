"""The burned-in-marker shortcut (Zech et al., PLOS Med 2018; DeGrave et al., Nat Mach Intell 2021).

**The confounded sampler.** :func:`confounded_sample` draws a binary task from the cohort — *pneumonia*
(bacterial or viral) vs a *normal film* (upper respiratory infection or bronchitis) — from two sites, so
that each label comes mostly from one site: a fraction ``confound`` of the pneumonia films from
``sites[1]`` and the same fraction of the normal films from ``sites[0]``. Each site burns its marker in its
own corner and has its own exposure, noise and blur, so "which hospital" predicts the label almost as well as
the finding does. ``reverse=True`` flips the association (the other hospital now sends the pneumonia cases)
and ``confound=0.5`` makes site and label independent. Every draw is without replacement from one split of
the cohort, and :func:`contingency` shows the label-by-site table the sample really has.

**The experiment.** A CNN trained on a confounded training set scores well on held-out patients drawn the
same way (*internal*) and worse where the association is reversed (*external*). Occluding the marker
corner and swapping markers between sites show what it learned; the fixes — masking the markers, acquisition
augmentation, site-balanced sampling — are trained and scored the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from medfusion_lib.evaluation import macro_auc, macro_f1

#: The two hospitals of the experiment: normal films mostly from the first, pneumonia mostly from the second.
PAIR: tuple[str, str] = ("Northgate", "Riverside")
POSITIVE: tuple[str, ...] = ("bacterial_pneumonia", "viral_pneumonia")
NEGATIVE: tuple[str, ...] = ("upper_respiratory_infection", "acute_bronchitis")
LABELS: tuple[str, str] = ("normal film", "pneumonia")


@dataclass(frozen=True)
class ShortcutSample:
    """Patients drawn by :func:`confounded_sample`: ``index`` (n,) rows of the cohort, ``y`` (n,) 0/1
    (1 = pneumonia), ``site`` (n,) site names."""

    index: np.ndarray
    y: np.ndarray
    site: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def confounded_sample(patients: pd.DataFrame, split: str, confound: float = 0.9,
                      sites: Sequence[str] = PAIR, reverse: bool = False, seed: int = 0) -> ShortcutSample:
    """Draw the largest sample of ``split`` in which a fraction ``confound`` of each label comes from its
    "home" site (normal -> ``sites[0]``, pneumonia -> ``sites[1]``; swapped when ``reverse``).

    ``confound`` in [0.5, 1]: 0.5 = site independent of label, 1 = every label from one site only.
    """
    if not 0.5 <= confound <= 1.0:
        raise ValueError(f"confound must be between 0.5 (no confounding) and 1 (complete); got {confound}")
    if len(sites) != 2 or sites[0] == sites[1]:
        raise ValueError(f"sites must name two different hospitals; got {sites}")
    if split not in set(patients["split"]):
        raise ValueError(f"no split {split!r} in the patients table; use 'train', 'val' or 'test'")
    rng = np.random.default_rng(seed)
    home = {0: sites[1], 1: sites[0]} if reverse else {0: sites[0], 1: sites[1]}
    in_split = (patients["split"] == split).to_numpy()
    label = np.full(len(patients), -1)
    label[patients["diagnosis"].isin(NEGATIVE).to_numpy()] = 0
    label[patients["diagnosis"].isin(POSITIVE).to_numpy()] = 1
    site = patients["site"].to_numpy()
    chosen = []
    for y in (0, 1):
        at_home = np.flatnonzero(in_split & (label == y) & (site == home[y]))
        away_site = sites[1] if home[y] == sites[0] else sites[0]
        away = np.flatnonzero(in_split & (label == y) & (site == away_site))
        # the largest n with round(confound * n) home films and the rest away films available
        n = len(at_home) / confound if confound > 0 else np.inf
        if confound < 1:
            n = min(n, len(away) / (1 - confound))
        n_home = min(len(at_home), int(round(confound * n)))
        n_away = min(len(away), int(n) - n_home)
        if n_home + n_away < 2:
            raise ValueError(f"too few {LABELS[y]} patients in split {split!r} at {sites} to draw a sample")
        chosen += [rng.choice(at_home, n_home, replace=False), rng.choice(away, n_away, replace=False)]
    index = np.sort(np.concatenate(chosen))
    return ShortcutSample(index, label[index], site[index])


def contingency(sample: ShortcutSample) -> pd.DataFrame:
    """Label-by-site counts of a sample (rows ``LABELS``, columns sites)."""
    table = pd.crosstab(pd.Series(np.asarray(LABELS)[sample.y], name="label"),
                        pd.Series(sample.site, name="site"))
    return table.reindex(index=list(LABELS), fill_value=0)


def site_balanced_index(sample: ShortcutSample, seed: int = 0) -> np.ndarray:
    """Positions into ``sample`` (with replacement) in which every (label, site) cell is equally frequent:
    the rare cells (pneumonia at the "normal" site and vice versa) are drawn as often as the common ones."""
    rng = np.random.default_rng(seed)
    cells = [np.flatnonzero((sample.y == y) & (sample.site == s))
             for y in (0, 1) for s in sorted(set(sample.site.tolist()))]
    cells = [c for c in cells if len(c)]
    per_cell = max(len(c) for c in cells)
    return np.concatenate([rng.choice(c, per_cell, replace=True) for c in cells])


class AcquisitionJitter(nn.Module):
    """Acquisition augmentation for one film (1, H, W) in [0, 1]: random exposure (gamma), blur and detector
    noise drawn wider than the sites differ, so they stop telling the hospitals apart."""

    def __init__(self, max_gamma: float = 1.5, max_blur: float = 1.2, max_noise: float = 0.06):
        super().__init__()
        self.log_gamma, self.max_blur, self.max_noise = float(np.log(max_gamma)), max_blur, max_noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        gamma = float(torch.empty(1).uniform_(-self.log_gamma, self.log_gamma).exp())
        x = x.clamp(0, 1).pow(gamma)
        sigma = float(torch.empty(1).uniform_(0.01, self.max_blur))
        x = F.gaussian_blur(x, kernel_size=[5, 5], sigma=[sigma, sigma])
        x = x + torch.randn_like(x) * float(torch.empty(1).uniform_(0, self.max_noise))
        return x.clamp(0, 1)


def train_film_model(images: np.ndarray, y: np.ndarray, val_images: np.ndarray, y_val: np.ndarray,
                     transform: Callable | None = None, epochs: int = 10, width: int = 16, size: int = 64,
                     seed: int = 0) -> nn.Module:
    """A :class:`~medfusion_lib.vision.models.CompactCNN` for the binary task, trained with the course's
    recipe (early stopping on ``val_images``). images: (n, H, W) uint8; y: (n,) 0/1."""
    from medfusion_lib.config import seed_everything
    from medfusion_lib.vision.datasets import ImageArrayDataset
    from medfusion_lib.vision.models import CompactCNN
    from medfusion_lib.vision.train import fit

    seed_everything(seed)  # the initial weights are part of the run (torch's start-up seed differs per process)
    model = CompactCNN(num_classes=2, width=width)
    fit(model, ImageArrayDataset(images, y, transform=transform, size=size),
        ImageArrayDataset(val_images, y_val, size=size), epochs=epochs, seed=seed, progress=False,
        patience=None, device="cpu")
    model.size_ = size
    return model


def pneumonia_proba(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """(n,) P(pneumonia) for films (n, H, W) uint8."""
    from medfusion_lib.vision.evaluate import predict_proba

    return predict_proba(model, images, size=getattr(model, "size_", None), device="cpu")[:, 1]


def score(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC and macro-F1 (threshold 0.5) of pneumonia probabilities ``p`` (n,) against ``y`` (n,) 0/1."""
    y = np.asarray(y)
    return {"auc": macro_auc(y, np.stack([1 - p, p], axis=1)), "macro_f1": macro_f1(y, (p >= 0.5).astype(int))}


def occlusion_map(model: nn.Module, images: np.ndarray, patch: int = 8, stride: int = 4) -> np.ndarray:
    """(H, W) mean absolute change of P(pneumonia) when a ``patch`` x ``patch`` square (filled with the
    film's median) covers each pixel, averaged over the films (n, H, W) uint8 — occlusion sensitivity
    (Zeiler & Fergus, 2014), written out because it is what the lesson teaches."""
    images = np.asarray(images)
    n, size, _ = images.shape
    base = pneumonia_proba(model, images)
    fill = np.median(images.reshape(n, -1), axis=1).astype(np.uint8)
    total, count = np.zeros((size, size)), np.zeros((size, size))
    for r in range(0, size - patch + 1, stride):
        for c in range(0, size - patch + 1, stride):
            covered = images.copy()
            covered[:, r:r + patch, c:c + patch] = fill[:, None, None]
            change = np.abs(pneumonia_proba(model, covered) - base).mean()
            total[r:r + patch, c:c + patch] += change
            count[r:r + patch, c:c + patch] += 1
    return total / np.maximum(count, 1)




#: The fixes the experiment tries: name -> (preprocess films with mask_markers?, acquisition augmentation?,
#: site-balanced sampling?).
FIXES: dict[str, tuple[bool, bool, bool]] = {
    "mask marker": (True, False, False),
    "mask + acquisition augmentation": (True, True, False),
    "site-balanced sampling": (False, False, True),
    "site-balanced + mask": (True, False, True),
}


@dataclass
class ShortcutResult:
    """Scores of the naive model and of each fix. ``table``: one row per model with ``model, internal_auc,
    external_auc, internal_macro_f1, external_macro_f1`` (and ``val_external_*``, used to pick the fix); ``contingency``: the training sample's table;
    ``probes``: marker occlusion and swap effects on the naive model; ``models``: the fitted CNNs."""

    table: pd.DataFrame
    contingency: pd.DataFrame
    probes: dict
    models: dict
    samples: dict

    def best_fix(self, metric: str = "auc") -> str:
        """The fix with the highest score on reversed-association *validation* films (not the test films)."""
        return str(self.table.set_index("model").drop("naive")[f"val_external_{metric}"].idxmax())

    def recovery(self, metric: str = "auc") -> pd.Series:
        """Per fix: the fraction of the naive model's internal − external drop that the fix recovers on
        the external set, (fixed_external − naive_external) / (naive_internal − naive_external)."""
        t = self.table.set_index("model")
        naive = t.loc["naive"]
        drop = naive[f"internal_{metric}"] - naive[f"external_{metric}"]
        return (t[f"external_{metric}"] - naive[f"external_{metric}"]).drop("naive") / drop


def run_shortcut_experiment(cohort, confound: float = 0.9, epochs: int = 8, size: int = 32, seed: int = 0,
                            fixes: Sequence[str] | None = None) -> ShortcutResult:
    """Train the naive CNN on a confounded sample and every fix in ``fixes`` (default: all of ``FIXES``);
    score each on internal (same confounding) and external (association reversed) test films."""
    from medfusion_lib.hospitals.markers import mask_markers, site_corner, swap_markers

    patients, images = cohort.patients, cohort.images
    train = confounded_sample(patients, "train", confound, seed=seed)
    val = confounded_sample(patients, "val", confound, seed=seed)
    internal = confounded_sample(patients, "test", confound, seed=seed)
    external = confounded_sample(patients, "test", confound, reverse=True, seed=seed)
    # reversed-association validation films: the fix to report is chosen on these, never on the test films
    val_external = confounded_sample(patients, "val", confound, reverse=True, seed=seed)
    rows, models = [], {}
    for name in ["naive", *(fixes if fixes is not None else FIXES)]:
        mask, augment, balance = FIXES.get(name, (False, False, False))
        prep = mask_markers if mask else (lambda x: x)
        index = site_balanced_index(train, seed) if balance else np.arange(len(train))
        model = train_film_model(prep(images[train.index[index]]), train.y[index], prep(images[val.index]), val.y,
                                 transform=AcquisitionJitter() if augment else None, epochs=epochs, size=size,
                                 seed=seed)
        model.preprocess_ = prep
        row = {"model": name}
        for where, sample in (("internal", internal), ("external", external), ("val_external", val_external)):
            for metric, value in score(sample.y, pneumonia_proba(model, prep(images[sample.index]))).items():
                row[f"{where}_{metric}"] = value
        rows.append(row)
        models[name] = model
    naive = models["naive"]
    films = images[internal.index]
    p = pneumonia_proba(naive, films)
    pneumonia_site, normal_site = PAIR[1], PAIR[0]
    sick = internal.y == 1
    # pneumonia films with the *normal* site's marker, normal films with the pneumonia site's marker
    swapped = np.where(sick[:, None, None], swap_markers(films, site_corner(normal_site)),
                       swap_markers(films, site_corner(pneumonia_site)))
    probes = {
        "mask_mean_abs_change": float(np.abs(pneumonia_proba(naive, mask_markers(films)) - p).mean()),
        "swap_internal": score(internal.y, pneumonia_proba(naive, swapped)),
        "internal": score(internal.y, p),
    }
    return ShortcutResult(pd.DataFrame(rows), contingency(train), probes, models,
                          {"train": train, "val": val, "internal": internal, "external": external,
                           "val_external": val_external})
