"""Build, save and load the paired patient cohort (symptom narrative + vitals + chest image per patient).

The same parameters always give byte-identical files: every random draw comes from generators seeded
by (seed, patient index), and the files are written without timestamps.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medfusion_lib.atomic import staged_dir
from medfusion_lib.config import datasets_dir
from medfusion_lib.data.diagnoses import DIAGNOSES, PRESENTATIONS, PREVALENCE, SITES, VITALS
from medfusion_lib.data.images import FINDINGS, render_film
from medfusion_lib.data.narratives import write_narrative
from medfusion_lib.errors import UserError

SOURCES = ("synthetic", "pneumoniamnist")
DEFAULT_N_PATIENTS = 4000
#: Real-image mode pairs each patient with a distinct real film; 2,400 fits the 1,583 normal films of PneumoniaMNIST.
DEFAULT_N_PATIENTS_REAL = 2400
DEFAULT_IMAGE_SIZE = 64
LABEL_NOISE_RATE = 0.03
SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}
#: In real-image mode only these classes have films to pair with: real normal and pneumonia X-rays.
REAL_IMAGE_CLASSES = {
    "upper_respiratory_infection": 0, "acute_bronchitis": 0,  # MedMNIST label 0 = normal
    "bacterial_pneumonia": 1, "viral_pneumonia": 1,             # label 1 = pneumonia
}
PATIENT_COLUMNS = ["patient_id", "site", "age", "sex", *VITALS, "narrative", "voice", "split",
                   "diagnosis", "true_diagnosis", "label_noise"]
SPAN_COLUMNS = ["patient_id", "start", "end", "text", "concept_id", "label", "negated"]
FORMAT_VERSION = 2  # 2: images.npz also holds the finding masks
#: The modules whose code decides what a cohort contains: a change to any of them makes old builds stale.
GENERATOR_MODULES = ("cohort.py", "diagnoses.py", "narratives.py", "images.py", "datasheet.py", "../lexicon.py")


def generator_fingerprint() -> str:
    """A short hash of the generator's source code, stored in build.json to detect stale cohorts."""
    import hashlib

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in GENERATOR_MODULES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Cohort:
    """A built cohort in memory. Row i of ``patients`` goes with ``images[i]`` (and ``masks[i]``).

    ``masks`` (n_patients, H, W) uint8: bit k is set where the generator drew finding ``FINDINGS[k]``
    (see :mod:`medfusion_lib.data.images`); all zero for normal films. ``None`` for real-image cohorts
    (nobody drew their findings) and for cohorts built before masks existed: use :meth:`finding_masks`,
    which says so clearly.
    """

    patients: pd.DataFrame
    images: np.ndarray                     # (n_patients, H, W) uint8
    spans: pd.DataFrame
    params: dict = field(default_factory=dict)
    path: Path | None = None
    masks: np.ndarray | None = None        # (n_patients, H, W) uint8 bit masks of FINDINGS, or None

    @property
    def y(self) -> np.ndarray:
        """(n_patients,) int64 class index into DIAGNOSES of the recorded diagnosis."""
        return self.patients["diagnosis"].map({d: i for i, d in enumerate(DIAGNOSES)}).to_numpy(np.int64)

    @property
    def classes(self) -> tuple[str, ...]:
        """The diagnoses present in this cohort, in DIAGNOSES order."""
        present = set(self.patients["diagnosis"])
        return tuple(d for d in DIAGNOSES if d in present)

    def split(self, name: str) -> "Cohort":
        """The patients of one split ("train", "val" or "test"), with their images and spans."""
        if name not in SPLIT_FRACTIONS:
            raise ValueError(f"unknown split {name!r}; use one of {', '.join(SPLIT_FRACTIONS)}")
        return self.take((self.patients["split"] == name).to_numpy())

    def take(self, index) -> "Cohort":
        """The patients selected by ``index`` (a boolean mask or integer positions), with their images,
        masks and spans."""
        index = np.asarray(index)
        patients = self.patients.iloc[np.flatnonzero(index) if index.dtype == bool else index]
        patients = patients.reset_index(drop=True)
        spans = self.spans[self.spans["patient_id"].isin(set(patients["patient_id"]))].reset_index(drop=True)
        masks = None if self.masks is None else self.masks[index]
        return Cohort(patients, self.images[index], spans, dict(self.params), self.path, masks)

    def finding_masks(self, finding: str | None = None) -> np.ndarray:
        """(n_patients, H, W) bool: where the generator drew ``finding`` (one of ``FINDINGS``), or any
        finding when ``finding`` is None. Raises ``UserError`` when this cohort has no masks."""
        if self.masks is None:
            if self.params.get("source") == "pneumoniamnist":
                raise UserError("real-image cohorts (source='pneumoniamnist') have no finding masks: nobody "
                                "drew their findings; use a synthetic cohort to score explanations")
            raise UserError("this cohort has no finding masks (built before they existed); rebuild it with "
                            "`medfusion data build`")
        if finding is None:
            return self.masks > 0
        if finding not in FINDINGS:
            raise ValueError(f"unknown finding {finding!r}; choose one of {', '.join(FINDINGS)}")
        return (self.masks >> FINDINGS.index(finding)) & 1 == 1

    def __len__(self) -> int:
        return len(self.patients)

    def __repr__(self) -> str:
        h, w = self.images.shape[1:] if self.images.ndim == 3 else (0, 0)
        return f"Cohort({len(self)} patients, images {h}x{w}, source={self.params.get('source', '?')})"


# ----------------------------------------------------------------------------------------------- build


def _check_params(n_patients: int, seed: int, image_size: int | None, source: str) -> None:
    if source not in SOURCES:
        raise UserError(f"unknown source {source!r}; use one of: {', '.join(SOURCES)}")
    if not isinstance(n_patients, (int, np.integer)) or isinstance(n_patients, bool) or n_patients < 60:
        raise UserError(f"n_patients must be a whole number of at least 60 (ten per class); got {n_patients!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"seed must be a non-negative whole number; got {seed!r}")
    if image_size is not None and (not isinstance(image_size, (int, np.integer)) or not 16 <= image_size <= 512):
        raise UserError(f"image_size must be a whole number of pixels from 16 to 512; got {image_size!r}")


def _sample_sites_and_diagnoses(n: int, rng: np.random.Generator, classes: tuple[str, ...]):
    shares = np.array([s.share for s in SITES])
    site_idx = rng.choice(len(SITES), size=n, p=shares / shares.sum())
    diagnoses = np.empty(n, dtype=object)
    for k, site in enumerate(SITES):
        weights = np.array([PREVALENCE[d] * site.case_mix.get(d, 1.0) for d in classes])
        members = np.flatnonzero(site_idx == k)
        diagnoses[members] = np.array(classes)[rng.choice(len(classes), size=len(members), p=weights / weights.sum())]
    return site_idx, diagnoses


def _stratified_split(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """train/val/test per patient, stratified by label; every label lands in every split."""
    split = np.empty(len(labels), dtype=object)
    for label in sorted(set(labels)):
        idx = np.flatnonzero(labels == label)
        idx = idx[rng.permutation(len(idx))]
        n_val = max(1, round(len(idx) * SPLIT_FRACTIONS["val"]))
        n_test = max(1, round(len(idx) * SPLIT_FRACTIONS["test"]))
        split[idx[:n_val]] = "val"
        split[idx[n_val:n_val + n_test]] = "test"
        split[idx[n_val + n_test:]] = "train"
    return split


def _vitals(diagnosis: str, rng: np.random.Generator) -> dict[str, float]:
    v = PRESENTATIONS[diagnosis].vitals
    temperature = np.clip(rng.normal(*v["temperature_c"]), 35.5, 41.0)
    heart_rate = np.clip(rng.normal(*v["heart_rate"]), 45, 170)
    resp_rate = np.clip(rng.normal(*v["resp_rate"]), 10, 40)
    spo2 = np.clip(rng.normal(*v["spo2"]), 75, 100)
    return {"temperature_c": round(float(temperature), 1), "heart_rate": int(round(heart_rate)),
            "resp_rate": int(round(resp_rate)), "spo2": int(round(spo2))}


def default_n_patients(source: str) -> int:
    """The cohort size used when none is asked for: 4,000 synthetic patients, 2,400 with real films."""
    return DEFAULT_N_PATIENTS_REAL if source == "pneumoniamnist" else DEFAULT_N_PATIENTS


def generate_cohort(n_patients: int | None = None, seed: int = 0, image_size: int | None = None,
                    source: str = "synthetic", medmnist_npz: str | Path | None = None,
                    progress: bool = False) -> Cohort:
    """Generate a cohort in memory (see ``build_cohort`` to write it to disk); ``n_patients`` defaults to
    ``default_n_patients(source)``."""
    n_patients = default_n_patients(source) if n_patients is None else n_patients
    _check_params(n_patients, seed, image_size, source)
    real = None
    classes = DIAGNOSES
    if source == "pneumoniamnist":
        real = _load_real_images(medmnist_npz)
        classes = tuple(d for d in DIAGNOSES if d in REAL_IMAGE_CLASSES)
        native = real["train"][0].shape[1]
        if image_size not in (None, native):
            raise UserError(f"the real images are {native}x{native}; drop --image-size or set it to {native}")
        image_size = native
    image_size = image_size or DEFAULT_IMAGE_SIZE

    rng = np.random.default_rng([seed, 0])
    site_idx, true_dx = _sample_sites_and_diagnoses(n_patients, rng, classes)
    # label noise: a few recorded diagnoses differ from what was simulated (as in real records)
    recorded = true_dx.copy()
    noisy = rng.random(n_patients) < LABEL_NOISE_RATE
    for i in np.flatnonzero(noisy):
        recorded[i] = rng.choice([d for d in classes if d != true_dx[i]])
    split = _stratified_split(recorded, rng) if real is None else None
    if real is not None:
        split, real_images = _pair_real_images(true_dx, real, rng)

    rows, span_rows = [], []
    images = np.empty((n_patients, image_size, image_size), dtype=np.uint8)
    masks = np.zeros_like(images) if real is None else None  # nobody knows where a real film's findings are
    iterator = range(n_patients)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="patients", unit="pt", disable=None)  # silent when not a terminal
    for i in iterator:
        prng = np.random.default_rng([seed, 1, i])
        dx = true_dx[i]
        site = SITES[site_idx[i]]
        mean_age, sd_age = PRESENTATIONS[dx].age
        age = int(np.clip(round(prng.normal(mean_age, sd_age)), 18, 95))
        sex = "F" if prng.random() < 0.5 else "M"
        vitals = _vitals(dx, prng)
        voice = "note" if prng.random() < site.note_voice_rate else "patient"
        narrative, spans = write_narrative(dx, voice, age, sex, vitals["temperature_c"], prng)
        patient_id = f"P{i:05d}"
        rows.append({"patient_id": patient_id, "site": site.name, "age": age, "sex": sex, **vitals,
                     "narrative": narrative, "voice": voice, "split": split[i], "diagnosis": recorded[i],
                     "true_diagnosis": dx, "label_noise": bool(noisy[i])})
        span_rows += [{"patient_id": patient_id, **s.to_dict()} for s in spans]
        if real is None:
            images[i], masks[i] = render_film(dx, site, prng, image_size, sex=sex, age=age)
        else:
            images[i] = real_images[i]
    patients = pd.DataFrame(rows, columns=PATIENT_COLUMNS)
    spans = pd.DataFrame(span_rows, columns=SPAN_COLUMNS)
    params = {"n_patients": int(n_patients), "seed": int(seed), "image_size": int(image_size), "source": source,
              "format_version": FORMAT_VERSION, "generator": generator_fingerprint()}
    return Cohort(patients, images, spans, params, masks=masks)


def _load_real_images(path):
    try:
        from medfusion_lib.data.medmnist import find_medmnist, load_medmnist_npz
    except ImportError as exc:  # pragma: no cover - the loader ships with the library
        raise UserError(f"the MedMNIST loader is unavailable: {exc}") from exc
    if path is None:
        path = find_medmnist("pneumoniamnist")
        if path is None:
            raise UserError("no PneumoniaMNIST file found: pass --medmnist-npz PATH, or download it first with "
                            "`medfusion data fetch pneumoniamnist` (needs a network)")
    if not Path(path).is_file():
        raise UserError(f"--medmnist-npz {path}: no such file")
    return load_medmnist_npz(path, flag="pneumoniamnist")


def _pair_real_images(true_dx: np.ndarray, real: dict, rng: np.random.Generator):
    """Give each patient an unused real film of the matching kind; the patient takes the film's split.

    Keeping MedMNIST's official split means the official test films stay in our test split.
    """
    pools = {}
    for label in (0, 1):
        entries = [(name, j) for name in ("train", "val", "test")
                   for j in np.flatnonzero(real[name][1] == label)]
        pools[label] = [entries[k] for k in rng.permutation(len(entries))]
    split = np.empty(len(true_dx), dtype=object)
    images = []
    used = {0: 0, 1: 0}
    for i, dx in enumerate(true_dx):
        label = REAL_IMAGE_CLASSES[dx]
        if used[label] >= len(pools[label]):
            kind = "normal" if label == 0 else "pneumonia"
            raise UserError(f"not enough real {kind} films ({len(pools[label])}) for {len(true_dx)} patients; "
                            f"ask for fewer with --n-patients")
        name, j = pools[label][used[label]]
        used[label] += 1
        split[i] = name
        images.append(real[name][0][j])
    return split, np.stack(images)


# ----------------------------------------------------------------------------------------------- files


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive with fixed timestamps, so equal arrays give equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, npy.getvalue())
    return buffer.getvalue()


def save_cohort(cohort: Cohort, out_dir: str | Path) -> Path:
    """Write patients.csv, spans.csv, images.npz, datasheet.md and build.json; all or nothing."""
    from medfusion_lib.data.datasheet import write_datasheet

    out_dir = Path(out_dir)
    _check_writable(out_dir)
    with staged_dir(out_dir) as stage:
        cohort.patients.to_csv(stage / "patients.csv", index=False, lineterminator="\n")
        cohort.spans.to_csv(stage / "spans.csv", index=False, lineterminator="\n")
        arrays = {"images": cohort.images, "patient_id": cohort.patients["patient_id"].to_numpy().astype("U6")}
        if cohort.masks is not None:
            arrays["masks"] = cohort.masks
        (stage / "images.npz").write_bytes(_npz_bytes(arrays))
        (stage / "datasheet.md").write_text(write_datasheet(cohort), encoding="utf-8")
        (stage / "build.json").write_text(json.dumps(cohort.params, indent=2, sort_keys=True) + "\n")
    cohort.path = out_dir
    return out_dir


def _check_writable(out_dir: Path) -> None:
    """Fail early, before minutes of work, when the output folder cannot be written."""
    import shutil
    import tempfile

    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output {out_dir} exists and is not a folder; choose another --out")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".probe", dir=out_dir.parent))
    except OSError as exc:
        raise UserError(f"cannot write to {out_dir} ({exc.strerror or exc}); choose a writable --out folder") from None


def build_cohort(out_dir: str | Path | None = None, n_patients: int | None = None, seed: int = 0,
                 image_size: int | None = None, source: str = "synthetic",
                 medmnist_npz: str | Path | None = None, progress: bool = False) -> Path:
    """Generate a cohort and write it to ``out_dir`` (default ``datasets/default``); returns the folder."""
    out_dir = Path(out_dir) if out_dir is not None else datasets_dir() / "default"
    n_patients = default_n_patients(source) if n_patients is None else n_patients
    _check_params(n_patients, seed, image_size, source)
    _check_writable(out_dir)
    cohort = generate_cohort(n_patients, seed, image_size, source, medmnist_npz, progress=progress)
    return save_cohort(cohort, out_dir)


def read_cohort(path: str | Path) -> Cohort:
    """Read a cohort folder written by ``build_cohort``; clear errors when files are missing or broken."""
    path = Path(path)
    missing = [f for f in ("patients.csv", "spans.csv", "images.npz") if not (path / f).is_file()]
    if missing:
        raise UserError(f"{path} is not a built cohort (missing {', '.join(missing)}); "
                        f"build one with `medfusion data build --out {path}`")
    patients = pd.read_csv(path / "patients.csv", keep_default_na=False)
    patients["label_noise"] = patients["label_noise"].astype(str).eq("True")
    spans = pd.read_csv(path / "spans.csv", keep_default_na=False)
    spans["negated"] = spans["negated"].astype(str).eq("True")
    with np.load(path / "images.npz", allow_pickle=False) as archive:
        images = archive["images"]
        ids = archive["patient_id"]
        masks = archive["masks"] if "masks" in archive.files else None
    if len(ids) != len(patients) or not np.array_equal(ids.astype(str), patients["patient_id"].to_numpy(str)):
        raise UserError(f"{path}: images.npz and patients.csv do not list the same patients; rebuild the cohort")
    if masks is not None and masks.shape != images.shape:
        raise UserError(f"{path}: images.npz holds masks of shape {masks.shape} for images of shape "
                        f"{images.shape}; rebuild the cohort")
    params = json.loads((path / "build.json").read_text()) if (path / "build.json").is_file() else {}
    return Cohort(patients, images, spans, params, path, masks)


def load_cohort(name: str | Path = "default", build_if_missing: bool = True, **params) -> Cohort:
    """The cohort ``datasets/<name>`` (or a folder path), built first when absent or stale.

    ``params`` (n_patients, seed, image_size, source, medmnist_npz) go to ``build_cohort``; when given,
    a cohort built with other values is rebuilt. Without them, the folder's cohort is used as built —
    unless the generator's code changed since (then it is rebuilt with the same parameters).
    """
    path = Path(name) if (isinstance(name, Path) or "/" in str(name)) else datasets_dir() / str(name)
    built = json.loads((path / "build.json").read_text()) if (path / "build.json").is_file() else {}
    asked = {k: v for k, v in params.items() if k != "medmnist_npz" and v is not None}
    up_to_date = ((path / "patients.csv").is_file() and built.get("generator") == generator_fingerprint()
                  and all(built.get(k) == v for k, v in asked.items()))
    if not up_to_date:
        if not build_if_missing:
            raise UserError(f"no up-to-date cohort at {path}; build it with `medfusion data build --out {path}`")
        previous = {k: built[k] for k in ("n_patients", "seed", "source") if k in built}
        if built.get("source") == "synthetic" and "image_size" in built:
            previous["image_size"] = built["image_size"]
        build_cohort(path, **{**previous, **params})
    return read_cohort(path)
