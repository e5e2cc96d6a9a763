"""``medfusion data build|info|fetch``: make the cohort, describe it, fetch real images."""
from __future__ import annotations

import argparse
from pathlib import Path

from medfusion_lib.errors import UserError


def _whole_number(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="build and inspect the paired patient cohort")
    commands = data.add_subparsers(dest="data_command", metavar="ACTION")
    commands.required = True

    build = commands.add_parser("build", help="generate a cohort into a folder (default datasets/default)")
    build.add_argument("--source", default="synthetic", choices=["synthetic", "pneumoniamnist"],
                       help="synthetic images (default) or real PneumoniaMNIST films")
    build.add_argument("--medmnist-npz", type=Path, default=None, help="a local pneumoniamnist.npz (real mode)")
    build.add_argument("--n-patients", type=_whole_number(60), default=None,
                       help="number of patients (default 4000 synthetic, 2400 real; at least 60)")
    build.add_argument("--seed", type=_whole_number(0), default=0, help="random seed (default 0)")
    build.add_argument("--image-size", type=_whole_number(16), default=None,
                       help="image side in pixels (synthetic; default 64)")
    build.add_argument("--out", type=Path, default=None, help="output folder (default datasets/default)")
    build.add_argument("--force", action="store_true", help="rebuild even when an identical build exists")
    build.set_defaults(func=_build)

    info = commands.add_parser("info", help="counts per split, class and site, and a PNG grid of images")
    info.add_argument("dir", type=Path, help="a cohort folder, e.g. datasets/default")
    info.add_argument("--grid", type=Path, default=None, help="where to save the image grid (default DIR/grid.png)")
    info.set_defaults(func=_info)

    fetch = commands.add_parser("fetch", help="download a MedMNIST file (needs a network; checksum-verified)")
    fetch.add_argument("flag", choices=["pneumoniamnist"], help="which MedMNIST data set")
    fetch.add_argument("--out", type=Path, default=None, help="folder to keep it in (default datasets/medmnist)")
    fetch.set_defaults(func=_fetch)


def _build(args) -> int:
    import json
    import time

    from medfusion_lib.config import datasets_dir
    from medfusion_lib.data.cohort import build_cohort, default_n_patients, generator_fingerprint

    if args.source == "synthetic" and args.medmnist_npz is not None:
        raise UserError("--medmnist-npz goes with --source pneumoniamnist")
    if args.medmnist_npz is not None and not args.medmnist_npz.is_file():
        raise UserError(f"--medmnist-npz {args.medmnist_npz}: no such file")
    out = args.out or datasets_dir() / ("default" if args.source == "synthetic" else args.source)
    n_patients = args.n_patients or default_n_patients(args.source)
    wanted = {"n_patients": n_patients, "seed": args.seed, "source": args.source,
              "generator": generator_fingerprint()}
    if args.image_size is not None:
        wanted["image_size"] = args.image_size
    done = out / "build.json"
    if not args.force and done.is_file() and (out / "images.npz").is_file():
        built = json.loads(done.read_text())
        if all(built.get(k) == v for k, v in wanted.items()):
            print(f"{out}: up to date ({n_patients} patients, seed {args.seed}); --force rebuilds it")
            return 0
    started = time.perf_counter()
    build_cohort(out, n_patients=n_patients, seed=args.seed, image_size=args.image_size, source=args.source,
                 medmnist_npz=args.medmnist_npz, progress=True)
    print(f"built {out} ({n_patients} patients, seed {args.seed}) in {time.perf_counter() - started:.1f} s")
    return 0


def _info(args) -> int:
    from medfusion_lib.data.cohort import read_cohort
    from medfusion_lib.data.cohort_stats import counts_table
    from medfusion_lib.data.plots import save_image_grid

    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such folder; build a cohort with `medfusion data build --out {args.dir}`")
    cohort = read_cohort(args.dir)
    print(f"{cohort}  (params: {cohort.params})\n")
    for rows, columns in (("diagnosis", "split"), ("diagnosis", "site"), ("site", "split")):
        print(counts_table(cohort.patients, rows, columns).to_string(), end="\n\n")
    grid = save_image_grid(cohort, args.grid or args.dir / "grid.png")
    print(f"image grid: {grid}")
    return 0


def _fetch(args) -> int:
    from medfusion_lib.data.medmnist import fetch_medmnist

    path = fetch_medmnist(args.flag, cache_dir=args.out)
    print(f"saved {path}")
    return 0
