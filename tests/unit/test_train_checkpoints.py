"""Which checkpoint a resumed training run starts from (:mod:`sdrrl_ray.train.checkpoints`), on fake
checkpoint folders laid out as Ray Train writes them (every rank's files merged into one
``checkpoint_<date>`` folder of the run); no Ray, no DeepSpeed."""

from __future__ import annotations

import json
import logging
import os
import re

import pyarrow.fs
import pytest

from sdrrl_ray.train import checkpoints
from sdrrl_ray.train.trainer import MIN_CHECKPOINTS_KEPT

FS = pyarrow.fs.LocalFileSystem()


def fake_checkpoint(run_dir, stamp: str, step: int, world: int = 2) -> str:
    """A fake checkpoint as the workers upload it: each rank's DeepSpeed-like files and its manifest."""
    folder = run_dir / f"checkpoint_2026-01-01_00-00-{stamp}.000000"
    for rank in range(world):
        local = run_dir.parent / f"local-{stamp}-{rank}"  # the rank's own temporary folder
        (local / "ds").mkdir(parents=True)
        (local / "ds" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt").write_bytes(b"o" * (100 + step))
        (local / "ds" / f"zero_pp_rank_{rank}_mp_rank_00_model_states.pt").write_bytes(b"m" * 50)
        if rank == 0:
            (local / "latest").write_text("ds")
        checkpoints.write_manifest(str(local), rank=rank, world=world, state={"global_step": step, "epoch": 0})
        for src, _, names in os.walk(local):  # the upload: into the one shared folder
            dest = folder / os.path.relpath(src, local)
            dest.mkdir(parents=True, exist_ok=True)
            for name in names:
                (dest / name).write_bytes((local.joinpath(os.path.relpath(src, local), name)).read_bytes())
    return str(folder)


def ray_snapshot(run_dir, *folders: str) -> None:
    """A stand-in for Ray Train's own record of the run's checkpoints (only the names matter here)."""
    names = [os.path.basename(f) for f in folders]
    (run_dir / checkpoints.RAY_SNAPSHOT).write_text(json.dumps({
        "checkpoint_results": [{"checkpoint_dir_name": n, "metrics": {}} for n in names],
        "latest_checkpoint_result": {"checkpoint_dir_name": names[-1], "metrics": {}}}))


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "checkpoints" / "sdrrl-train-ja-abc"
    d.mkdir(parents=True)
    return d


def test_whole_latest_checkpoint_is_used(run_dir):
    first, second = fake_checkpoint(run_dir, "01", 2), fake_checkpoint(run_dir, "02", 4)
    assert checkpoints.checkpoint_folders(FS, str(run_dir)) == [first, second]
    assert checkpoints.problem(FS, first) is None and checkpoints.problem(FS, second) is None
    assert checkpoints.choose(FS, second) == (second, [])
    assert checkpoints.state_of(FS, second)["global_step"] == 4
    assert MIN_CHECKPOINTS_KEPT >= 2  # the previous checkpoint is kept while training runs


@pytest.mark.parametrize("damage, why", [
    ("truncate", r"ds/zero_pp_rank_1_mp_rank_00_optim_states.pt has 50 bytes, 104 expected"),
    ("delete", r"ds/zero_pp_rank_0_mp_rank_00_model_states.pt is missing"),
    ("delete-latest-tag", r"^latest is missing"),
    ("no-manifests", r"no sdrrl-manifest.rank\*.json"),
    ("one-manifest-missing", r"manifest of rank\(s\) \[1\] of 2 is missing"),
    ("corrupt-manifest", r"sdrrl-manifest.rank0.json is unreadable"),
    ("folder-gone", r"the folder is missing"),
])
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(run_dir, damage, why, caplog):
    previous, latest = fake_checkpoint(run_dir, "01", 2), fake_checkpoint(run_dir, "02", 4)
    ds = os.path.join(latest, "ds")
    if damage == "truncate":
        with open(os.path.join(ds, "zero_pp_rank_1_mp_rank_00_optim_states.pt"), "r+b") as fh:
            fh.truncate(50)
    elif damage == "delete":
        os.remove(os.path.join(ds, "zero_pp_rank_0_mp_rank_00_model_states.pt"))
    elif damage == "delete-latest-tag":
        os.remove(os.path.join(latest, "latest"))
    elif damage == "no-manifests":
        for r in (0, 1):
            os.remove(os.path.join(latest, f"sdrrl-manifest.rank{r}.json"))
    elif damage == "one-manifest-missing":
        os.remove(os.path.join(latest, "sdrrl-manifest.rank1.json"))
    elif damage == "corrupt-manifest":
        with open(os.path.join(latest, "sdrrl-manifest.rank0.json"), "w") as fh:
            fh.write('{"rank": 0, "files": {"ds/zero')
    else:
        import shutil

        shutil.rmtree(latest)
    chosen, damaged = checkpoints.choose(FS, latest)
    assert chosen == previous
    assert [p for p, _ in damaged] == [latest]
    assert re.search(why, damaged[0][1]), damaged[0][1]

    # in the training loop: rank 0 decides, logs a warning naming the damaged checkpoint, every rank follows
    from ray.train import Checkpoint

    class FakeDist:
        def broadcast_object_list(self, objs, src):
            assert src == 0 and objs[0] is not None

    with caplog.at_level(logging.WARNING, logger="sdrrl_ray"):
        ckpt, passed_over = checkpoints.restore_point(Checkpoint(latest, filesystem=FS), rank=0, dist=FakeDist())
    assert ckpt.path == previous and passed_over == damaged
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"checkpoint {latest} is damaged" in m for m in warnings), warnings
    assert any(f"resuming from the previous checkpoint {previous} (step 2)" in m for m in warnings), warnings


def test_only_whole_older_checkpoints_are_candidates(run_dir):
    oldest = fake_checkpoint(run_dir, "01", 2)
    middle = fake_checkpoint(run_dir, "02", 4)
    latest = fake_checkpoint(run_dir, "03", 6)
    newer = fake_checkpoint(run_dir, "04", 8)  # e.g. uploaded but never recorded by Ray: not the one it hands out
    for folder in (middle, latest):
        os.remove(os.path.join(folder, "latest"))
    chosen, damaged = checkpoints.choose(FS, latest)
    assert chosen == oldest and [p for p, _ in damaged] == [latest, middle] and newer not in dict(damaged)
    os.remove(os.path.join(oldest, "latest"))
    chosen, damaged = checkpoints.choose(FS, latest)
    assert chosen is None and len(damaged) == 3
    assert checkpoints.describe(chosen, damaged)[-1].startswith("no earlier checkpoint of this run is whole")


def test_driver_check_of_the_run_folder(run_dir):
    # no run yet: nothing to say
    assert checkpoints.check_run_state(str(run_dir / "nothing")) == (None, [])
    previous, latest = fake_checkpoint(run_dir, "01", 2), fake_checkpoint(run_dir, "02", 4)
    ray_snapshot(run_dir, previous, latest)
    assert checkpoints.check_run_state(str(run_dir)) == (None, [])
    # a damaged latest checkpoint: Ray still hands it out, the workers pass it over; the driver says so
    os.remove(os.path.join(latest, "latest"))
    fallback, lines = checkpoints.check_run_state(str(run_dir))
    assert fallback is None and f"checkpoint {latest} is damaged" in lines[0] and previous in lines[1]
    assert (run_dir / checkpoints.RAY_SNAPSHOT).exists()


@pytest.mark.parametrize("damage", ["folder-deleted", "snapshot-corrupt"])
def test_damaged_ray_record_is_set_aside_and_the_newest_whole_checkpoint_passed_on(run_dir, damage):
    import shutil

    previous, latest = fake_checkpoint(run_dir, "01", 2), fake_checkpoint(run_dir, "02", 4)
    ray_snapshot(run_dir, previous, latest)
    if damage == "folder-deleted":  # Ray would refuse to start: its record names a folder that is gone
        shutil.rmtree(latest)
        expected = previous
    else:
        (run_dir / checkpoints.RAY_SNAPSHOT).write_text('{"checkpoint_results": [{"checkpoint_dir')
        expected = latest
    fallback, lines = checkpoints.check_run_state(str(run_dir))
    assert fallback == expected
    assert not (run_dir / checkpoints.RAY_SNAPSHOT).exists()
    assert (run_dir / (checkpoints.RAY_SNAPSHOT + ".damaged")).exists()
    assert "is damaged" in lines[0] and expected in lines[-1]
    assert checkpoints.check_run_state(str(run_dir)) == (None, [])  # Ray starts a new record


def test_prune_keeps_the_latest_checkpoint_without_its_optimizer_state(run_dir):
    """After a finished run: older checkpoint folders deleted, the latest's optim_states removed and unlisted,
    its manifests marked; it is then whole (not damaged) but not resumed from, and Ray's record is set aside."""
    first, second = fake_checkpoint(run_dir, "01", 2), fake_checkpoint(run_dir, "02", 4)
    ray_snapshot(run_dir, first, second)
    older = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(first) for n in ns)

    report = checkpoints.prune(str(run_dir))
    assert report["kept"] == second and report["folders_deleted"] == [os.path.basename(first)]
    assert report["files_deleted"] == [f"ds/zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)]
    assert report["bytes_freed"] == older + 2 * 104
    assert checkpoints.checkpoint_folders(FS, str(run_dir)) == [second]
    left = sorted(os.path.relpath(os.path.join(d, n), second) for d, _, ns in os.walk(second) for n in ns)
    assert not any("optim_states" in name for name in left)
    assert "ds/zero_pp_rank_0_mp_rank_00_model_states.pt" in left
    for rank in (0, 1):
        manifest = json.load(open(os.path.join(second, f"sdrrl-manifest.rank{rank}.json")))
        assert manifest["optimizer_state"] == "deleted" and manifest["state"]["global_step"] == 4
        assert not any("optim_states" in name for name in manifest["files"])

    assert checkpoints.problem(FS, second) is None and checkpoints.pruned(FS, second)
    assert checkpoints.choose(FS, second) == (None, [])  # whole, so not damaged; not resumable: start over
    assert checkpoints.describe(None, []) == []
    fallback, lines = checkpoints.check_run_state(str(run_dir))
    assert fallback is None and len(lines) == 1 and "pruned" in lines[0] and "starts over" in lines[0]
    assert not (run_dir / checkpoints.RAY_SNAPSHOT).exists()
    assert checkpoints.check_run_state(str(run_dir)) == (None, [])  # Ray starts a fresh run
    assert checkpoints.prune(str(run_dir))["bytes_freed"] == 0  # pruning twice is harmless


def test_prune_of_an_empty_run_folder(run_dir, tmp_path):
    assert checkpoints.prune(str(run_dir)) == dict(kept=None, folders_deleted=[], files_deleted=[], bytes_freed=0)
    assert checkpoints.prune(str(tmp_path / "nothing"))["kept"] is None
