#!/usr/bin/env python3
"""How the real-X-ray recipe was chosen (docs/image-recipe.md): train each candidate on three seeds and score the
**validation** split only — the test split is never loaded here.

    .venv/bin/python tools/xray_recipe_search.py [--npz path/to/pneumoniamnist.npz] [--candidates w16e6,w32e10]

Prints one JSON line per training and a table per candidate: median validation AUC, balanced accuracy at the
validation threshold, NLL, the threshold per seed and its spread. About 7 minutes on 2 cores for all three.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

CANDIDATES = {"w16e6": (16, 6), "w16e12": (16, 12), "w32e10": (32, 10)}
SEEDS = (0, 1, 2)


def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import log_loss, roc_auc_score

    from medfusion_lib.bench.image import THREADS, find_pneumoniamnist
    from medfusion_lib.data.medmnist import load_medmnist_npz
    from medfusion_lib.vision.evaluate import binary_report, predict_proba
    from medfusion_lib.vision.recipe import default_config, train_image_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npz", help="pneumoniamnist.npz (default: where bench image finds it)")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated, from: "
                        + ", ".join(f"{k} (width {w}, {e} epochs)" for k, (w, e) in CANDIDATES.items()))
    args = parser.parse_args(argv)
    path = args.npz or find_pneumoniamnist()
    if path is None:
        print("no pneumoniamnist.npz found: pass --npz or set MEDFUSION_MEDMNIST_NPZ", file=sys.stderr)
        return 2
    chosen = [c.strip() for c in args.candidates.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CANDIDATES]
    if unknown:
        print(f"unknown candidate(s) {unknown}; choose from {sorted(CANDIDATES)}", file=sys.stderr)
        return 2
    splits = load_medmnist_npz(path, flag="pneumoniamnist")
    train_val = {"train": splits["train"], "val": splits["val"]}
    x_val, y_val = splits["val"]
    table = {}
    for name in chosen:
        width, epochs = CANDIDATES[name]
        for seed in SEEDS:
            config = default_config(seed=seed, num_threads=THREADS, progress=False, device="cpu", epochs=epochs)
            started = time.perf_counter()
            trained = train_image_model(train_val, config=config, width=width)
            p_val = predict_proba(trained.model, x_val)[:, 1]
            report = binary_report(y_val, p_val, trained.threshold)
            row = {"candidate": name, "seed": seed, "train_s": round(time.perf_counter() - started, 1),
                   "val_auc": roc_auc_score(y_val, p_val), "val_nll": log_loss(y_val, np.clip(p_val, 1e-7, 1 - 1e-7)),
                   "val_balanced_acc": (report["sensitivity"] + report["specificity"]) / 2,
                   "threshold": trained.threshold}
            table.setdefault(name, []).append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'candidate':10} {'val AUC':>8} {'bal acc':>8} {'NLL':>6}  thresholds (spread)")
    for name, rows in table.items():
        thresholds = [r["threshold"] for r in rows]
        print(f"{name:10} {statistics.median(r['val_auc'] for r in rows):8.4f} "
              f"{statistics.median(r['val_balanced_acc'] for r in rows):8.3f} "
              f"{statistics.median(r['val_nll'] for r in rows):6.3f}  "
              f"{' / '.join(f'{t:.3f}' for t in thresholds)} ({max(thresholds) - min(thresholds):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
