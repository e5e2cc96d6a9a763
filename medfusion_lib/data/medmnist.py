"""Real chest X-rays in the MedMNIST ``.npz`` format (PneumoniaMNIST first).

Three entry points:

- :func:`load_medmnist_npz` reads a local file and checks its structure (keys, dtypes, shapes, split sizes,
  label range), raising :class:`~medfusion_lib.errors.UserError` that says exactly what is wrong.
- :func:`find_medmnist` looks for a local copy (``$MEDFUSION_MEDMNIST_NPZ``, the course cache
  ``<datasets_dir>/medmnist/``, the official ``medmnist`` package's ``~/.medmnist/``) and never downloads.
- :func:`fetch_medmnist` downloads the official file from Zenodo and verifies its MD5. Only call it when you
  have a network and want to: nothing in the course calls it for you.

The data: MedMNIST v2 (Yang et al., Scientific Data 10:41, 2023), CC BY 4.0; PneumoniaMNIST is derived from
the paediatric chest X-rays of Kermany et al., Cell 2018. Cite both when you use it.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medfusion_lib.atomic import atomic_path
from medfusion_lib.config import datasets_dir
from medfusion_lib.errors import UserError

SPLITS = ("train", "val", "test")
NPZ_ENV = "MEDFUSION_MEDMNIST_NPZ"
_ZENODO = "https://zenodo.org/records/10519652/files"


@dataclass(frozen=True)
class MedMNISTInfo:
    """What the official release of one grayscale MedMNIST subset looks like."""

    flag: str
    class_names: tuple[str, ...]
    n_samples: dict[str, int]
    md5: dict[int, str]  # image size -> MD5 of the official file on Zenodo

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def filename(self, size: int = 28) -> str:
        """``pneumoniamnist.npz`` for 28 px, ``pneumoniamnist_64.npz`` for 64 px, ..."""
        return f"{self.flag}.npz" if size == 28 else f"{self.flag}_{size}.npz"

    def url(self, size: int = 28) -> str:
        return f"{_ZENODO}/{self.filename(size)}?download=1"


# Figures from the official MedMNIST v2 release (medmnist/info.py, version 3.x).
MEDMNIST_INFO: dict[str, MedMNISTInfo] = {
    "pneumoniamnist": MedMNISTInfo(
        flag="pneumoniamnist",
        class_names=("normal", "pneumonia"),
        n_samples={"train": 4708, "val": 524, "test": 624},
        md5={28: "28209eda62fecd6e6a2d98b1501bb15f", 64: "8f4eceb4ccffa70c672198ea285246c6",
             128: "05b46931834c231683c68f40c47b2971", 224: "d6a3c71de1b945ea11211b03746c1fe1"},
    ),
    "breastmnist": MedMNISTInfo(
        flag="breastmnist",
        class_names=("malignant", "normal, benign"),
        n_samples={"train": 546, "val": 78, "test": 156},
        md5={28: "750601b1f35ba3300ea97c75c52ff8f6", 64: "742edef2a1fd1524b2efff4bd7ba9364",
             128: "363e4b3f8d712e9b5de15470a2aaadf1", 224: "b56378a6eefa9fed602bb16d192d4c8b"},
    ),
}

MedMNISTSplits = dict[str, tuple[np.ndarray, np.ndarray]]


def medmnist_info(flag: str) -> MedMNISTInfo:
    """The release facts for ``flag``; ``UserError`` naming the supported flags otherwise."""
    try:
        return MEDMNIST_INFO[flag]
    except KeyError:
        raise UserError(f"unknown MedMNIST flag {flag!r}; this course supports: "
                        f"{', '.join(sorted(MEDMNIST_INFO))}") from None


def _check_size(size: int, info: MedMNISTInfo) -> int:
    if size not in info.md5:
        raise UserError(f"MedMNIST image size must be one of {sorted(info.md5)}; got {size!r}")
    return int(size)


def medmnist_cache_dir() -> Path:
    """Where :func:`fetch_medmnist` stores files: ``<datasets_dir>/medmnist`` (``$MEDFUSION_DATA_DIR`` aware)."""
    return datasets_dir() / "medmnist"


def file_md5(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks (MedMNIST publishes MD5s)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- loading
def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array in the archive, read fully now, so a truncated member fails here with a clear message."""
    hint = (f"{path} is not a complete MedMNIST .npz file ({{why}}); it may be a truncated or interrupted "
            "download: delete it and download it again (medfusion_lib.data.medmnist.fetch_medmnist)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise UserError(hint.format(why=f"{type(exc).__name__}: {exc}")) from None


def _check_split(arrays: dict[str, np.ndarray], split: str, path: Path,
                 info: MedMNISTInfo | None, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    where = f"{path.name}: {split}_images"
    if images.dtype != np.uint8:
        raise UserError(f"{where} has dtype {images.dtype}; MedMNIST images are uint8 (0-255)")
    if images.ndim == 4 and images.shape[-1] == 1:  # (N, H, W, 1): a grayscale channel axis, harmless
        images = images[..., 0]
    if images.ndim != 3:
        extra = " (colour images: this loader handles grayscale subsets only)" if images.ndim == 4 else ""
        raise UserError(f"{where} has shape {images.shape}; expected (N, H, W) grayscale images{extra}")
    n, height, width = images.shape
    if height != width or (size is not None and height != size):
        want = f"{size}x{size}" if size is not None else "square"
        raise UserError(f"{where} are {height}x{width} pixels; expected {want}")
    if info is not None and n != info.n_samples[split]:
        raise UserError(f"{where} holds {n} images; the official {info.flag} {split} split has "
                        f"{info.n_samples[split]} — is this the right file (or a partial copy)?")

    where = f"{path.name}: {split}_labels"
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise UserError(f"{where} has shape {labels.shape}; expected (N, 1) or (N,) class indices "
                        "(multi-label subsets such as ChestMNIST are not supported)")
    if labels.shape[0] != n:
        raise UserError(f"{where} has {labels.shape[0]} labels for {n} images; they must match")
    if not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{where} has dtype {labels.dtype}; expected integer class indices")
    if n and labels.min() < 0:
        raise UserError(f"{where} include {labels.min()}; class indices cannot be negative")
    if n and info is not None and labels.max() >= info.n_classes:
        raise UserError(f"{where} range from {labels.min()} to {labels.max()}; {info.flag} has classes "
                        f"0..{info.n_classes - 1} ({', '.join(info.class_names)})")
    return np.ascontiguousarray(images), labels.astype(np.int64)


def load_medmnist_npz(path: str | os.PathLike, flag: str | None = "pneumoniamnist",
                      size: int | None = None) -> MedMNISTSplits:
    """Read a MedMNIST ``.npz`` file and check it thoroughly.

    Args:
        path: the ``.npz`` file (e.g. from :func:`find_medmnist` or :func:`fetch_medmnist`).
        flag: which subset the file should be; its official split sizes and label range are checked.
            ``None`` checks only the generic layout (any split sizes, non-negative labels).
        size: expected image side in pixels (28, 64, 128, 224); ``None`` accepts any square size.

    Returns:
        ``{"train": (images, labels), "val": ..., "test": ...}`` with ``images`` uint8 ``(N, H, W)`` and
        ``labels`` int64 ``(N,)``.

    Raises:
        UserError: the file is missing, unreadable or truncated, or a key, dtype, shape, split size or
            label is not what the format promises. The message names the problem.
    """
    path = Path(path).expanduser()
    info = medmnist_info(flag) if flag is not None else None
    if size is not None and info is not None:
        _check_size(size, info)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise UserError(f"MedMNIST file {path} {what}; pass the path of the .npz file, or download it "
                        "with medfusion_lib.data.medmnist.fetch_medmnist() when you have a network")
    arrays = _read_arrays(path)
    required = [f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels")]
    missing = [key for key in required if key not in arrays]
    if missing:
        raise UserError(f"{path.name} lacks the MedMNIST keys {', '.join(missing)} (it has: "
                        f"{', '.join(sorted(arrays)) or 'nothing'}); is it a MedMNIST .npz file?")
    splits = {split: _check_split(arrays, split, path, info, size) for split in SPLITS}
    sides = {split: images.shape[1] for split, (images, _labels) in splits.items()}
    if len(set(sides.values())) > 1:
        raise UserError(f"{path.name}: the splits have different image sizes {sides}; they must agree")
    return splits


# --------------------------------------------------------------------------------------------- finding
def find_medmnist(flag: str = "pneumoniamnist", size: int = 28) -> Path | None:
    """A local copy of the MedMNIST file, or ``None``. Never downloads.

    Looks, in order, at ``$MEDFUSION_MEDMNIST_NPZ`` (a file path), ``<datasets_dir>/medmnist/<file>``
    (where :func:`fetch_medmnist` saves; ``$MEDFUSION_DATA_DIR`` moves it), ``<datasets_dir>/<file>`` and
    ``~/.medmnist/<file>`` (the official ``medmnist`` package's cache). The file is not validated here:
    pass the result to :func:`load_medmnist_npz`.

    Raises:
        UserError: ``$MEDFUSION_MEDMNIST_NPZ`` is set but names no file (a typo would otherwise be silent).
    """
    info = medmnist_info(flag)
    name = info.filename(_check_size(size, info))
    from_env = os.environ.get(NPZ_ENV, "").strip()
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise UserError(f"${NPZ_ENV} is set to {from_env!r}, which is not a file; fix or unset it")
        return path.resolve()
    for folder in (medmnist_cache_dir(), datasets_dir(), Path.home() / ".medmnist"):
        candidate = folder / name
        if candidate.is_file():
            return candidate.resolve()
    return None


def how_to_get_medmnist(flag: str = "pneumoniamnist", size: int = 28) -> str:
    """One paragraph telling a learner how to obtain the real file (for notebooks and CLI messages)."""
    info = medmnist_info(flag)
    return (f"No local copy of {info.filename(size)} was found. With a network, run\n"
            f"    from medfusion_lib.data.medmnist import fetch_medmnist; fetch_medmnist({flag!r}, size={size})\n"
            f"which downloads {info.url(size)} (MD5-checked) into {medmnist_cache_dir()}. "
            f"Or download it yourself and set ${NPZ_ENV} to its path.")


# --------------------------------------------------------------------------------------------- download
def fetch_medmnist(flag: str = "pneumoniamnist", size: int = 28, cache_dir: str | os.PathLike | None = None,
                   *, force: bool = False, url: str | None = None, md5: str | None = None,
                   timeout: float = 60.0, progress: bool = True) -> Path:
    """Download the official MedMNIST file (needs a network; the course never calls this on its own).

    The file is streamed to a temporary name beside the target, its MD5 compared with the official one and
    its structure checked with :func:`load_medmnist_npz`; only then is it renamed into place, so an
    interrupted or corrupt download never leaves a file that looks finished.

    Args:
        flag, size: which subset and image size (see :data:`MEDMNIST_INFO`).
        cache_dir: destination folder; default :func:`medmnist_cache_dir`.
        force: download again even when a verified copy is already there.
        url, md5: override the official source (mirrors, tests); both default to the Zenodo release.
        timeout: seconds to wait for the server before giving up.
        progress: show a ``tqdm`` progress bar.

    Returns:
        Path of the verified ``.npz`` file.
    """
    info = medmnist_info(flag)
    size = _check_size(size, info)
    url = url or info.url(size)
    expected_md5 = (md5 or info.md5[size]).lower()
    target = Path(cache_dir).expanduser() if cache_dir is not None else medmnist_cache_dir()
    target = target / info.filename(size)
    if target.is_file() and not force and file_md5(target) == expected_md5:
        return target

    try:
        with atomic_path(target) as tmp:
            digest = _download(url, tmp, timeout=timeout, progress=progress)
            if digest != expected_md5:
                raise UserError(f"downloaded {url} but its MD5 is {digest}, not the published {expected_md5}; "
                                "the download was corrupted or the file changed — nothing was saved, try again")
            load_medmnist_npz(tmp, flag=flag, size=size)
    except PermissionError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror}; choose another cache_dir") from None
    return target


def _download(url: str, dest: Path, *, timeout: float, progress: bool) -> str:
    """Stream ``url`` into ``dest``; return the hex MD5 of what was written."""
    from tqdm.auto import tqdm

    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url.split("?")[0]).name,
                      disable=not progress) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"could not download {url} ({reason}); check your network, or download the file by "
                        f"hand and set ${NPZ_ENV} to its path") from None
    return digest.hexdigest()
