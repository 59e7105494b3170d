"""Which checkpoint a resumed run starts from: the latest one that is whole, with a warning for any that is not.

Every worker writes ``sdrrl-manifest.rank<r>.json`` into its part of a checkpoint, after DeepSpeed's
files: the names and sizes of the files it wrote, the world size and the training state. A checkpoint
folder is *whole* when the manifest of every rank is there and readable and every file a manifest
lists is there with its size; a truncated or deleted file, or a missing or corrupt manifest, makes it
*damaged*.

- :func:`choose` (in the training loop, rank 0): Ray Train hands the workers the run's latest
  checkpoint; when it is damaged, the newest whole checkpoint before it in the run's folder is used
  instead (Ray keeps ``train.num_to_keep`` >= 2 of them), with a warning naming the damaged one; when
  none is whole, training starts over, with a warning.
- :func:`check_run_state` (on the driver, before ``fit``): the same check on the newest checkpoint
  folder, so the warning is also on the console; and Ray's own record of the run's checkpoints
  (``checkpoint_manager_snapshot.json``): when it is unreadable or names a checkpoint folder that is
  gone, Ray would refuse to start, so it is moved aside (``*.damaged``) and the newest whole
  checkpoint is passed to the workers explicitly.

- :func:`prune` (on the driver, after a run's export): deletes every checkpoint folder but the latest and,
  in the latest, DeepSpeed's optimizer state (``*optim_states.pt``: with ZeRO-3 also the fp32 weight
  partitions), rewriting each rank's manifest without them and with ``"optimizer_state": "deleted"``.
  Such a checkpoint is whole but cannot be resumed from: :func:`choose` passes it over (no warning) and
  :func:`check_run_state` sets Ray's record aside, so a refit starts over from the base model.

Paths are on a ``pyarrow.fs`` filesystem (Ray Train's: local, NFS, s3://, gs://).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, Optional

log = logging.getLogger("sdrrl_ray")

MANIFEST = "sdrrl-manifest.rank{rank}.json"
_MANIFEST_RE = re.compile(r"^sdrrl-manifest\.rank(\d+)\.json$")
CHECKPOINT_PREFIX = "checkpoint_"
RAY_SNAPSHOT = "checkpoint_manager_snapshot.json"
# DeepSpeed's zero_pp_rank_<r>_mp_rank_00_optim_states.pt (ZeRO 1-3; also bf16_zero_..._optim_states.pt)
OPTIMIZER_STATE_RE = re.compile(r"(^|/)[^/]*optim_states\.pt$")
DELETED = "deleted"


def write_manifest(local_dir: str, *, rank: int, world: int, state: dict) -> str:
    """Write this rank's manifest into its local checkpoint folder (last, once its files are written)."""
    files = {}
    for folder, _, names in os.walk(local_dir):
        for name in names:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
            if not _MANIFEST_RE.match(rel):
                files[rel] = os.path.getsize(full)
    path = os.path.join(local_dir, MANIFEST.format(rank=rank))
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(dict(rank=rank, world=world, state=state, files=dict(sorted(files.items()))), fh)
    os.replace(path + ".tmp", path)
    return path


def filesystem(url: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path on it) for a local path or URL."""
    import pyarrow.fs

    if "://" not in url:
        return pyarrow.fs.LocalFileSystem(), os.path.abspath(url)
    return pyarrow.fs.FileSystem.from_uri(url)


def _files(fs: Any, path: str) -> Optional[dict]:
    """relative name -> size of every file under ``path``; None when ``path`` is not a folder."""
    import pyarrow.fs

    if fs.get_file_info(path).type != pyarrow.fs.FileType.Directory:
        return None
    base = path.rstrip("/") + "/"
    return {info.path[len(base):]: info.size
            for info in fs.get_file_info(pyarrow.fs.FileSelector(path, recursive=True))
            if info.type == pyarrow.fs.FileType.File}


def _read_json(fs: Any, path: str) -> Any:
    with fs.open_input_stream(path) as fh:
        return json.loads(fh.read().decode("utf-8"))


def problem(fs: Any, path: str) -> Optional[str]:
    """Why the checkpoint folder ``path`` cannot be resumed from; None when it is whole."""
    found = _files(fs, path)
    if found is None:
        return "the folder is missing"
    ranks = {int(m.group(1)): name for name in found if (m := _MANIFEST_RE.match(name))}
    if not ranks:
        return "no sdrrl-manifest.rank*.json (written last, when a checkpoint is complete)"
    world = None
    for rank, name in sorted(ranks.items()):
        try:
            manifest = _read_json(fs, f"{path.rstrip('/')}/{name}")
            listed, world = dict(manifest["files"]), world or int(manifest["world"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"{name} is unreadable ({type(exc).__name__}: {exc})"
        for rel, size in sorted(listed.items()):
            if rel not in found:
                return f"{rel} is missing"
            if found[rel] != size:
                return f"{rel} has {found[rel]} bytes, {size} expected (truncated or rewritten)"
    missing = sorted(set(range(world)) - set(ranks))
    if missing:
        return f"the manifest of rank(s) {missing} of {world} is missing"
    return None


def state_of(fs: Any, path: str) -> dict:
    """The training state (step, epoch...) recorded with a whole checkpoint."""
    try:
        return dict(_read_json(fs, f"{path.rstrip('/')}/{MANIFEST.format(rank=0)}").get("state") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def pruned(fs: Any, path: str) -> bool:
    """True when :func:`prune` deleted this checkpoint's optimizer state (whole, but not resumable)."""
    try:
        return _read_json(fs, f"{path.rstrip('/')}/{MANIFEST.format(rank=0)}").get("optimizer_state") == DELETED
    except (OSError, ValueError, AttributeError):
        return False


def checkpoint_folders(fs: Any, run_dir: str) -> list[str]:
    """The run's checkpoint folders, oldest first (Ray names them ``checkpoint_<date and time>``)."""
    import pyarrow.fs

    infos = fs.get_file_info(pyarrow.fs.FileSelector(run_dir, allow_not_found=True))
    names = sorted(i.base_name for i in infos
                   if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith(CHECKPOINT_PREFIX))
    return [f"{run_dir.rstrip('/')}/{n}" for n in names]


def choose(fs: Any, latest: str) -> tuple[Optional[str], list[tuple[str, str]]]:
    """(the checkpoint to resume from, [(damaged checkpoint, why)]): ``latest`` when it is whole, else the
    newest whole checkpoint before it in its run folder; None when there is none."""
    damaged: list[tuple[str, str]] = []
    why = problem(fs, latest)
    if why is None:  # a pruned one (a finished run's, optimizer state deleted) cannot be resumed: start over
        return (None if pruned(fs, latest) else latest), damaged
    damaged.append((latest, why))
    run_dir, name = latest.rstrip("/").rsplit("/", 1)
    for folder in reversed(checkpoint_folders(fs, run_dir)):
        if folder.rsplit("/", 1)[1] >= name:
            continue
        why = problem(fs, folder)
        if why is None:
            return (None if pruned(fs, folder) else folder), damaged
        damaged.append((folder, why))
    return None, damaged


def describe(chosen: Optional[str], damaged: list[tuple[str, str]], fs: Any = None) -> list[str]:
    """The warning lines for a fallback (empty when nothing was damaged)."""
    lines = [f"checkpoint {path} is damaged ({why}); not resuming from it" for path, why in damaged]
    if damaged and chosen is not None:
        step = state_of(fs, chosen).get("global_step") if fs is not None else None
        lines.append(f"resuming from the previous checkpoint {chosen}"
                     + (f" (step {step})" if step is not None else ""))
    elif damaged:
        lines.append("no earlier checkpoint of this run is whole: training starts over from the base model")
    return lines


def _dir_names(value: Any) -> set:
    """Every ``checkpoint_dir_name`` in Ray's snapshot, wherever its format keeps them."""
    if isinstance(value, dict):
        found = {value["checkpoint_dir_name"]} if isinstance(value.get("checkpoint_dir_name"), str) else set()
        return found.union(*(_dir_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_dir_names(v) for v in value))
    return set()


def _url(run_url: str, path: str) -> str:
    """``path`` (on the run folder's filesystem) as a URL Ray's ``Checkpoint(url)`` opens."""
    return f"{run_url.split('://', 1)[0]}://{path}" if "://" in run_url else path


def check_run_state(run_url: str) -> tuple[Optional[str], list[str]]:
    """Driver-side check of a run folder before ``fit``: (checkpoint URL the workers must start from when
    Ray's record of the run had to be set aside, else None; warning lines)."""
    fs, run_dir = filesystem(run_url)
    present = _files(fs, run_dir)
    if present is None or RAY_SNAPSHOT not in present:
        return None, []
    folders = checkpoint_folders(fs, run_dir)
    snapshot = f"{run_dir}/{RAY_SNAPSHOT}"
    if folders and problem(fs, folders[-1]) is None and pruned(fs, folders[-1]):
        fs.move(snapshot, snapshot + ".pruned")  # else Ray hands out (or misses) checkpoints that cannot resume
        return None, [f"run {run_dir} finished and its checkpoints were pruned after export (optimizer state "
                      f"deleted, train.keep_checkpoints=latest): training starts over from the base model"]
    why = None
    try:
        gone = sorted(n for n in _dir_names(_read_json(fs, snapshot)) if _files(fs, f"{run_dir}/{n}") is None)
        if gone:
            why = f"it names checkpoint folder(s) that are gone: {', '.join(gone)}"
    except (OSError, ValueError) as exc:
        why = f"it is unreadable ({type(exc).__name__}: {exc})"
    if why is None:  # Ray hands out its latest checkpoint: say now what the workers will do about it
        return None, describe(*choose(fs, folders[-1]), fs) if folders else []
    fs.move(snapshot, snapshot + ".damaged")
    lines = [f"Ray Train's record of this run's checkpoints {snapshot} is damaged ({why}); moved it to "
             f"{RAY_SNAPSHOT}.damaged and resuming from the newest whole checkpoint folder instead"]
    if not folders:
        return None, lines + ["no checkpoint folder left: training starts over from the base model"]
    chosen, damaged = choose(fs, folders[-1])
    if chosen is not None and not damaged:
        lines.append(f"resuming from {chosen} (step {state_of(fs, chosen).get('global_step')})")
    return (None if chosen is None else _url(run_url, chosen)), lines + describe(chosen, damaged, fs)


def restore_point(ckpt: Any, *, rank: int, dist: Any) -> tuple[Any, list[tuple[str, str]]]:
    """In the training loop: the checkpoint to load instead of ``ckpt`` (Ray's latest, or the driver's
    fallback), and the damaged ones passed over. Rank 0 decides, every rank gets its answer; rank 0 logs."""
    from ray.train import Checkpoint

    pick = [choose(ckpt.filesystem, ckpt.path) if rank == 0 else None]
    dist.broadcast_object_list(pick, src=0)
    path, damaged = pick[0]
    if rank == 0:
        for line in describe(path, damaged, ckpt.filesystem):
            log.warning("%s", line)
    if path == ckpt.path:
        return ckpt, damaged
    return (None if path is None else Checkpoint(path, filesystem=ckpt.filesystem)), damaged


def prune(run_url: str) -> dict:
    """After a finished run's export: delete every checkpoint folder but the latest and the latest's optimizer
    state, rewriting its manifests (see the module doc). Returns what was deleted and the bytes freed."""
    fs, run_dir = filesystem(run_url)
    folders = checkpoint_folders(fs, run_dir)
    report: dict = dict(kept=None, folders_deleted=[], files_deleted=[], bytes_freed=0)
    if not folders:
        return report
    latest, older = folders[-1], folders[:-1]
    found = _files(fs, latest) or {}
    optim = {rel: size for rel, size in found.items() if OPTIMIZER_STATE_RE.search(rel)}
    manifests = sorted(name for name in found if _MANIFEST_RE.match(name))
    for name in manifests:  # first: a manifest must never list a file that is gone
        manifest = _read_json(fs, f"{latest}/{name}")
        manifest["files"] = {k: v for k, v in manifest.get("files", {}).items() if k not in optim}
        manifest["optimizer_state"] = DELETED
        with fs.open_output_stream(f"{latest}/{name}") as fh:
            fh.write(json.dumps(manifest).encode("utf-8"))
    for rel in sorted(optim):
        fs.delete_file(f"{latest}/{rel}")
    for folder in older:
        report["bytes_freed"] += sum((_files(fs, folder) or {}).values())
        fs.delete_dir(folder)
    report.update(kept=latest, folders_deleted=[f.rsplit("/", 1)[1] for f in older], files_deleted=sorted(optim))
    report["bytes_freed"] += sum(optim.values())
    return report
