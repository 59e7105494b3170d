"""``manifest.json``: counts per stage in each stage's unit, reject reasons, subsets, provenance.

Counts are computed from what is on disk (committed output and reject parts), so they are right
after a resumed run as well as a fresh one. For every stage ``in - rejected == out / fanout``, and
for the run ``rows_in == rows_out + rows_rejected`` (input records; a record is out when it
produced at least one kept row).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional

import fsspec

from sdrrl_ray.sink import REJECTS, read_output


@dataclass(frozen=True)
class StageSpec:
    name: str
    unit: str  # record | item | item-target | variant | pair
    fanout: int = 1  # kept units out per unit in
    widen: int = 1  # units in per unit out of the previous stage (e.g. number of targets)


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("sdrrl-ray", "ray", "torch", "transformers", "pyarrow", "tokenizers", "vllm", "ctranslate2", "deepspeed"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> Optional[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        res = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", here, "status", "--porcelain"], capture_output=True, text=True, timeout=10)
    return res.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def stage_counts(stages: list[StageSpec], rows_in: int, rejects_by_stage: Counter) -> dict:
    out: dict = {}
    prev_out = rows_in
    for spec in stages:
        n_in = prev_out * spec.widen
        rejected = rejects_by_stage.get(spec.name, 0)
        n_out = (n_in - rejected) * spec.fanout
        out[spec.name] = {"unit": spec.unit, "in": n_in, "out": n_out, "rejected": rejected, "fanout": spec.fanout}
        prev_out = n_out
    return out


def build_manifest(
    out_dir: str,
    kept_dir: str,
    stages: list[StageSpec],
    *,
    config: dict,
    provenance: dict,
    licences: list[str],
    extra: Optional[dict] = None,
    subset_column: Optional[str] = None,
) -> dict:
    kept_cols = ["item_id"] + ([subset_column] if subset_column else [])
    kept = read_output(out_dir, kept_dir, kept_cols)
    rejects = read_output(out_dir, REJECTS, ["item_id", "stage", "reason"])
    kept_items = set(kept.column("item_id").to_pylist()) if kept is not None else set()
    reject_rows = rejects.to_pylist() if rejects is not None else []
    rejected_items = {r["item_id"] for r in reject_rows} - kept_items
    rows_out, rows_rejected = len(kept_items), len(rejected_items)
    rows_in = rows_out + rows_rejected
    manifest: dict[str, Any] = {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_rejected": rows_rejected,
        "rows_written": kept.num_rows if kept is not None else 0,
        "stages": stage_counts(stages, rows_in, Counter(r["stage"] for r in reject_rows)),
        "reject_reasons": dict(sorted(Counter(r["reason"] for r in reject_rows).items())),
    }
    if subset_column:
        counts = Counter(kept.column(subset_column).to_pylist()) if kept is not None else Counter()
        manifest["subsets"] = {name: counts.get(name, 0) for name in ("LL", "TL", "LT", "TT", "mt", "comp")}
    manifest.update(extra or {})
    manifest.update(
        config=config,
        versions=versions(),
        provenance={**provenance, "code_commit": git_commit()},
        licences=licences,
        written_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    return manifest


def write_json(url: str, data: dict) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    tmp = path + ".tmp"
    with fs.open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=False, ensure_ascii=False)
        fh.write("\n")
    fs.mv(tmp, path)


def read_json(url: str) -> Optional[dict]:
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as fh:
        return json.load(fh)
