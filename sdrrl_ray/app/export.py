"""``sdrrl export``: the committed transfer set as LLaMA-Factory reads it.

One JSON-lines file per target language (``--target`` picks one) and ``dataset_info.json`` beside
them (entries merged into one already there, so ``--out`` may be LLaMA-Factory's ``data`` folder):

- ``alpaca``: ``{"instruction": question, "input": "", "output": answer, ...}``, columns
  prompt / query / response;
- ``sharegpt``: ``{"conversations": [{"from": "human", "value": question}, {"from": "gpt", "value":
  answer}], ...}``, column messages and the role/content tags.

Every record also carries ``system`` (when ``generate.system_prompt`` is set, as training prompts
with it), ``weight``, ``subset``, ``target``, ``item_id`` and ``id``. ``weight`` is the paper's Eq. 6
weight N / (K |D_d|) from :func:`sdrrl_ray.train.plan.example_weights`, the function ``sdrrl train``
uses, over the rows of each training group: one target (``train.per_target``, the default) or every
target; ``train.loss_weighting=mean`` gives 1. ``sdrrl train`` computes it over its training rows,
after holding out ``train.heldout_fraction`` of the items and dropping rows too long for the model,
so its weights differ from these by those rows. This module lives in ``app`` because it reads both
phases' code (the transfer set's layout and card, training's weights).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Iterable, Optional

from sdrrl_ray import storage
from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.layout.parts import committed_files, read_parts
from sdrrl_ray.layout.paths import TRANSFER_SET, Out
from sdrrl_ray.train.plan import example_weights
from sdrrl_ray.transfer.card import write_card

log = logging.getLogger("sdrrl_ray")

FORMATS = ("alpaca", "sharegpt")
DATASET_INFO = "dataset_info.json"
READ_COLUMNS = ["id", "item_id", "subset", "tgt_lang", "question", "answer"]
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}


def dataset_name(fmt: str, target: str) -> str:
    return f"sdrrl_{target}_{fmt}"


def row_weights(subsets: list, targets: list, *, per_target: bool, weighting: str) -> list[float]:
    """Eq. 6 weight of each row within its training group (its target, or all rows)."""
    groups: dict = defaultdict(list)
    for i, target in enumerate(targets):
        groups[target if per_target else None].append(i)
    weights = [0.0] * len(subsets)
    for rows in groups.values():
        for i, w in zip(rows, example_weights([subsets[i] for i in rows], weighting)):
            weights[i] = float(w)
    return weights


def record(fmt: str, row: dict, weight: float, system: Optional[str]) -> dict:
    """One exported row: the format's own fields, then ``system`` (if any), weight and provenance."""
    if fmt == "alpaca":
        out = {"instruction": row["question"], "input": "", "output": row["answer"]}
    else:
        out = {"conversations": [{"from": "human", "value": row["question"]}, {"from": "gpt", "value": row["answer"]}]}
    if system:
        out["system"] = system
    out.update(weight=weight, subset=row["subset"], target=row["tgt_lang"], item_id=row["item_id"], id=row["id"])
    return out


def dataset_entry(fmt: str, file_name: str, system: bool) -> dict:
    """The file's ``dataset_info.json`` entry (LLaMA-Factory's data/README.md)."""
    if fmt == "alpaca":
        columns = {"prompt": "instruction", "query": "input", "response": "output"}
    else:
        columns = {"messages": "conversations"}
    if system:
        columns["system"] = "system"
    entry = {"file_name": file_name, "formatting": fmt, "columns": columns}
    if fmt == "sharegpt":
        entry["tags"] = dict(SHAREGPT_TAGS)
    return entry


def write_jsonl(url: str, records: Iterable[dict]) -> None:
    """JSON lines written to a temporary name, then renamed into place (local or object storage)."""
    fs, path = storage.url_to_fs(url)
    if "/" in path:
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp = f"{path}.tmp"
    try:
        with fs.open(tmp, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        fs.mv(tmp, path)
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise


def _checked_rows(cfg: Config, fmt: str, target: Optional[str]) -> tuple[list, dict]:
    """(rows sorted by target, item and id; the manifest), after the user-error checks."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}; "
                        f"example: sdrrl export CONFIG --format alpaca")
    paths = Out(cfg.out_dir)
    if not committed_files(cfg.out_dir, TRANSFER_SET):
        raise UserError(f"no transfer set in {paths.transfer_set} (no committed part-*.parquet); run "
                        "`sdrrl transfer-set CONFIG` first, or point out_dir at a finished run")
    manifest = storage.read_json(paths.manifest)
    if not isinstance(manifest, dict) or not manifest.get("complete"):
        state = "is missing" if manifest is None else "does not say complete"
        raise UserError(f"the transfer set in {paths.transfer_set} is not complete ({paths.manifest} {state}); "
                        "run `sdrrl transfer-set CONFIG` with the same config to finish it, then export")
    table = read_parts(cfg.out_dir, TRANSFER_SET, READ_COLUMNS)
    rows = table.sort_by([("tgt_lang", "ascending"), ("item_id", "ascending"), ("id", "ascending")]).to_pylist()
    present = sorted({r["tgt_lang"] for r in rows})
    if target is not None and str(target) not in present:
        raise UserError(f"--target {target} is not in the transfer set in {paths.transfer_set} (it has "
                        f"{', '.join(present)}); pass one of those, or leave --target out to export each")
    return rows, manifest


def export_transfer_set(cfg: Config, fmt: str = "alpaca", target: Optional[str] = None,
                        out: Optional[str] = None) -> dict:
    """Write ``sdrrl_<target>_<fmt>.jsonl`` per target and ``dataset_info.json`` into ``out`` (default
    ``OUT/export``), and the dataset card ``OUT/README.md``; returns what was written."""
    rows, manifest = _checked_rows(cfg, fmt, target)
    weights = row_weights([r["subset"] for r in rows], [r["tgt_lang"] for r in rows],
                          per_target=cfg.train.per_target, weighting=cfg.train.loss_weighting)
    folder = str(out) if out else Out(cfg.out_dir).export
    system = cfg.generate.system_prompt
    by_target: dict = defaultdict(list)
    for row, w in zip(rows, weights):
        by_target[row["tgt_lang"]].append((row, w))
    chosen = [str(target)] if target is not None else sorted(by_target)
    info_url = storage.join(folder, DATASET_INFO)
    written: dict = {}
    try:
        info = storage.read_json(info_url) or {}
    except ValueError as exc:
        raise UserError(f"{info_url} is not JSON ({exc}); fix or remove it, or choose another --out") from None
    if not isinstance(info, dict):
        raise UserError(f"{info_url} is not a JSON object of datasets; fix or remove it, or choose another --out")
    try:
        for tgt in chosen:
            name = dataset_name(fmt, tgt)
            url = storage.join(folder, f"{name}.jsonl")
            write_jsonl(url, (record(fmt, row, w, system) for row, w in by_target[tgt]))
            info[name] = dataset_entry(fmt, f"{name}.jsonl", bool(system))
            written[name] = {"file": url, "target": tgt, "rows": len(by_target[tgt])}
        storage.write_json(info_url, info)
    except (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
        raise UserError(f"cannot write the export into {folder} ({exc.strerror or exc}); "
                        "choose another --out or fix its permissions") from None
    try:
        card = write_card(cfg.out_dir, manifest)
    except OSError as exc:  # a read-only OUT (someone else's run): the export itself is done
        log.warning("the dataset card %s was not written (%s)", Out(cfg.out_dir).card, exc)
        card = None
    return {"format": fmt, "folder": folder, "dataset_info": info_url, "datasets": written, "card": card}


def lines(result: dict) -> list[str]:
    """What ``sdrrl export`` prints."""
    out = [f"{name}: {d['rows']} rows -> {d['file']}" for name, d in result["datasets"].items()]
    out.append(f"dataset_info: {result['dataset_info']}")
    if result.get("card"):
        out.append(f"card: {result['card']}")
    return out
