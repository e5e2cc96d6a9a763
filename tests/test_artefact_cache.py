"""tools/artefacts.py, the machine-wide copy of build/cache that `make test` restores and saves: it only adds what
a side lacks, never overwrites, skips unfinished files, expires files by the age of their saving and keeps the
newest within its size, and never fails the run."""
from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("medfusion_artefacts_tool", REPO / "tools" / "artefacts.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_restore_adds_only_what_the_checkout_lacks(tmp_path):
    machine, checkout = tmp_path / "machine", tmp_path / "build" / "cache"
    write(machine / "fusion" / "image-cnn-aaaa.npz", b"trained elsewhere")
    write(machine / "fusion" / "symptoms-bbbb.npz", b"machine copy")
    write(machine / "fusion" / ".image-cnn-cccc.npz.123.tmp", b"half written")
    write(checkout / "fusion" / "symptoms-bbbb.npz", b"checkout copy")
    assert tool.restore(checkout, machine) == (1, len(b"trained elsewhere"))
    assert (checkout / "fusion" / "image-cnn-aaaa.npz").read_bytes() == b"trained elsewhere"
    assert (checkout / "fusion" / "symptoms-bbbb.npz").read_bytes() == b"checkout copy"  # never overwritten
    assert not list(checkout.rglob("*.tmp"))
    assert not (checkout / "fusion" / "image-cnn-aaaa.npz").samefile(machine / "fusion" / "image-cnn-aaaa.npz")


def test_save_adds_new_files_and_restore_leaves_the_machine_copy_alone(tmp_path):
    machine, checkout = tmp_path / "machine", tmp_path / "cache"
    write(checkout / "explain" / "joint-dddd.pt", b"model")
    old = write(machine / "pretrain" / "dual-cnn-eeee.pt", b"encoder")
    saved_at = time.time() - 3600
    os.utime(old, (saved_at, saved_at))
    files, size, removed = tool.save(checkout, machine)
    assert (files, size, removed) == (1, 5, [])
    assert (machine / "explain" / "joint-dddd.pt").read_bytes() == b"model"
    assert tool.restore(checkout, machine) == (1, len(b"encoder"))
    assert old.stat().st_mtime == saved_at  # its age still counts from when it was saved


def test_prune_drops_expired_then_oldest(tmp_path):
    now = time.time()
    ages = {"a.npz": 0, "b.npz": 10, "c.npz": 20, "stale.npz": 40 * 86400}
    for name, age in ages.items():
        os.utime(write(tmp_path / "fusion" / name, b"x" * 100), (now - age, now - age))
    removed = tool.prune(tmp_path, keep_days=30, keep_bytes=250)
    assert sorted(removed) == ["fusion/c.npz", "fusion/stale.npz"]
    assert sorted(p.name for p in (tmp_path / "fusion").iterdir()) == ["a.npz", "b.npz"]


def test_off_and_a_broken_cache_never_fail_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(tool.ENV, "off")
    assert tool.main(["restore", "--cache", str(tmp_path / "cache")]) == 0
    assert "sharing is off" in capsys.readouterr().out
    blocker = write(tmp_path / "not-a-folder", b"")
    monkeypatch.setenv(tool.ENV, str(blocker))  # a file where the cache folder should be
    write(tmp_path / "cache" / "fusion" / "x.npz", b"x")
    assert tool.main(["save", "--cache", str(tmp_path / "cache")]) == 0
    assert "save skipped" in capsys.readouterr().out


def cohort_folder(path: Path, **params) -> Path:
    import json

    write(path / "images.npz", b"films")
    write(path / "patients.csv", b"patient_id\n")
    (path / "build.json").write_text(json.dumps({"generator": "g1", "n_patients": 4000, "seed": 0, **params}))
    return path


def test_a_cohort_is_saved_once_by_its_build_json_and_the_newest_are_kept(tmp_path):
    cohorts = tmp_path / "machine" / tool.COHORTS
    assert tool.save_cohort(cohort_folder(tmp_path / "a"), cohorts)
    assert not tool.save_cohort(tmp_path / "a", cohorts)  # the same build again: nothing to add
    [saved] = list(cohorts.iterdir())
    assert (saved / "images.npz").read_bytes() == b"films" and not list(cohorts.glob(".*"))
    for k, generator in enumerate(("g2", "g3")):
        time.sleep(0.01)
        assert tool.save_cohort(cohort_folder(tmp_path / f"b{k}", generator=generator), cohorts, keep=2)
    assert len(list(cohorts.iterdir())) == 2 and not saved.exists()  # the oldest went
    assert not tool.save_cohort(tmp_path / "no-build-here", cohorts)


def test_a_saved_cohort_is_restored_only_when_its_build_json_is_the_wanted_one(tmp_path):
    import json

    cohorts = tmp_path / "machine" / tool.COHORTS
    tool.save_cohort(cohort_folder(tmp_path / "old", generator="old-code"), cohorts)
    tool.save_cohort(cohort_folder(tmp_path / "today"), cohorts)
    wanted = json.loads((tmp_path / "today" / "build.json").read_text())
    target = tmp_path / "checkout" / "datasets" / "default"
    assert not tool.restore_cohort(target, cohorts, {**wanted, "generator": "changed-since"})
    assert not target.exists()  # another generator's cohort is never restored: `data build` builds it
    assert tool.restore_cohort(target, cohorts, wanted)
    assert json.loads((target / "build.json").read_text()) == wanted
    assert (target / "images.npz").read_bytes() == b"films"
    write(target / "images.npz", b"the checkout's own")
    assert not tool.restore_cohort(target, cohorts, wanted)  # a checkout's own cohort is never replaced
    assert (target / "images.npz").read_bytes() == b"the checkout's own"


def test_the_wanted_build_json_is_what_the_default_build_writes():
    """restore_cohort compares whole build.json files: default_cohort must say what a plain `data build` writes."""
    from medfusion_lib.config import datasets_dir
    from medfusion_lib.data.cohort import DEFAULT_N_PATIENTS, generate_cohort

    folder, wanted = tool.default_cohort()
    assert folder == datasets_dir() / "default"
    small = generate_cohort(n_patients=60)  # the same parameters but the size, which is quick to generate
    assert {**small.params, "n_patients": DEFAULT_N_PATIENTS} == wanted
