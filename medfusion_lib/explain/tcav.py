"""Does the image branch use a concept? TCAV (Kim et al. 2018) with concept sets drawn from the finding masks.

A *concept activation vector* (CAV) is the normal of a linear classifier that separates a layer's activations
on films showing the concept (e.g. an effusion, according to the generator's masks) from activations on random
films without any drawn finding. The TCAV score of a class is the share of that class's films whose class
score increases along the CAV (positive directional derivative). One CAV is noise; captum's ``TCAV`` trains one
per *experimental set* (concept vs a different random set), and a concept counts only when its scores differ
from those of random-vs-random CAVs (a two-sided t-test, as in the paper).
"""
from __future__ import annotations

import tempfile
import warnings

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from medfusion_lib.data.images import FINDINGS


class ImageOnlyForward(nn.Module):
    """Films (n, 1, size, size) -> fused logits (n, K) with every other modality marked absent (the joint
    network then uses its learned 'missing' embeddings): the image branch's say, for any batch size."""

    def __init__(self, model):
        super().__init__()
        self.net = model.net_
        self.names = list(model.names_)
        self.widths = [model.layout_[n] for n in self.names]

    def forward(self, films: torch.Tensor) -> torch.Tensor:
        n = films.shape[0]
        xs = [films.reshape(n, -1) if name == "image" else torch.zeros(n, w) for name, w in zip(self.names, self.widths)]
        present = torch.tensor([[name == "image" for name in self.names]]).repeat(n, 1)
        return self.net(xs, present)[0]


def _concept(concept_id: int, name: str, films: torch.Tensor):
    from captum.concept import Concept

    return Concept(concept_id, name, DataLoader(TensorDataset(films), batch_size=len(films),
                                                collate_fn=lambda batch: torch.stack([b[0] for b in batch])))


def concept_films(study, finding: str, n: int, split: str = "train", seed: int = 0) -> torch.Tensor:
    """(n, 1, size, size) films of ``split`` whose mask shows ``finding`` ("none" = no drawn finding)."""
    from medfusion_lib.fusion.joint import lookup_rows

    data = study.films[split]
    masks = study.cohort.masks[lookup_rows(study.cohort, data.patient_ids)]
    if finding == "none":
        chosen = ~masks.reshape(len(masks), -1).any(axis=1)
    elif finding in FINDINGS:
        chosen = ((masks >> FINDINGS.index(finding)) & 1).reshape(len(masks), -1).any(axis=1)
    else:
        raise ValueError(f"unknown finding {finding!r}; choose one of {', '.join(FINDINGS)} or 'none'")
    index = np.flatnonzero(chosen)
    if len(index) < n:
        raise ValueError(f"only {len(index)} {split} films show {finding!r}; ask for n <= {len(index)}")
    index = np.random.default_rng(seed).choice(index, n, replace=False)
    return study.model.films(data.subset(index))


def tcav_scores(study, findings: tuple[str, ...], target: int, inputs: torch.Tensor, n_concept: int = 40,
                n_random: int = 4, seed: int = 0) -> pd.DataFrame:
    """TCAV scores at the CNN's last conv block for class ``target`` on ``inputs`` films (n, 1, size, size).

    For each finding: ``n_random`` CAVs (concept vs a fresh random set of normal films) and as many
    random-vs-random CAVs. Returns one row per finding: mean and sd of the concept's scores, of the random
    ones, and the t-test p-value; ``significant`` is p < 0.05 with Bonferroni over findings.
    """
    from captum.attr import LayerGradientXActivation
    from captum.concept import TCAV

    forward = ImageOnlyForward(study.model)
    layer = "net.branches.image.cnn.backbone.7"
    randoms = [_concept(1000 + k, f"random{k}", concept_films(study, "none", n_concept, seed=seed + k))
               for k in range(n_random + 1)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tcav-") as where, torch.enable_grad(), warnings.catch_warnings():
        # captum warns that its default classifier keeps the (small) concept sets in memory, and scipy that
        # identical scores make the t-test degenerate (handled: p = 1 when nothing varies)
        warnings.filterwarnings("ignore", message=".*default classifier.*")
        warnings.filterwarnings("ignore", message=".*list of numpy.ndarrays is extremely slow.*")
        warnings.filterwarnings("ignore", message=".*catastrophic cancellation.*")
        # plain gradients (the paper's directional derivative), not integrated gradients (captum's default)
        tcav = TCAV(forward, [layer], save_path=where + "/",
                    layer_attr_method=LayerGradientXActivation(forward, None, multiply_by_inputs=False))
        baseline = tcav.interpret(inputs, [[randoms[0], r] for r in randoms[1:]], target=target)
        random_scores = [v[layer]["sign_count"][0].item() for v in baseline.values()]
        for k, finding in enumerate(findings):
            concept = _concept(k, finding, concept_films(study, finding, n_concept, seed=seed))
            result = tcav.interpret(inputs, [[concept, r] for r in randoms[1:]], target=target)
            scores = [v[layer]["sign_count"][0].item() for v in result.values()]
            p = float(stats.ttest_ind(scores, random_scores).pvalue) if np.std(scores + random_scores) > 0 else 1.0
            rows.append({"concept": finding, "tcav": float(np.mean(scores)), "tcav_sd": float(np.std(scores)),
                         "random": float(np.mean(random_scores)), "random_sd": float(np.std(random_scores)),
                         "p_value": p})
    table = pd.DataFrame(rows)
    table["significant"] = table["p_value"] < 0.05 / max(1, len(findings))
    return table
