"""Prediction files kept per (model, task, unit) so that a rerun of ``sdrrl eval`` reuses them.

:func:`sdrrl_ray.evaluation.run.predict` writes ``OUT/predictions/units/<model>.<task>.<unit>.jsonl``
(atomically: a temporary name renamed into place) as soon as the last request of that unit has its
answer, while the model's other units are still running. Its first line is a header holding a
*key*, a digest of everything that shapes the answers:

- the model: its report key, its path and a fingerprint of its files (names, sizes and modification
  times or object-store versions, so a retrained model in the same folder is a different model);
- the unit's requests, every field (this covers the task data, ``eval.limit``, ``eval.shots``, the
  prompt templates and ``max_new_tokens``);
- the inference settings (:func:`settings`): engine, prompt budget, sampling, seed, system prompt,
  model-loading options.

A rerun reads a unit's file back only when its key matches and it holds every row; anything else
(no file, another key, a file cut short) is recomputed. The per-task files that the report and
score-only mode read (``OUT/predictions/<model>.<task>.jsonl``) are rebuilt from these rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Iterable, Optional

from sdrrl_ray import storage

log = logging.getLogger("sdrrl_ray.eval")

UNITS = "units"
FORMAT = "sdrrl-unit-predictions/1"
REQUEST_FIELDS = ("key", "kind", "prefix", "body", "suffix", "options", "max_new_tokens", "raw")


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def model_fingerprint(path: str) -> str:
    """Names, sizes and versions (mtime, ETag...) of the model folder's files; the path itself when it is
    not a folder here (a hub id: the loader resolves it)."""
    try:
        fs, root = storage.url_to_fs(path)
        if not fs.isdir(root):
            return _digest({"path": path})
        listing = []
        base = root.rstrip("/") + "/"
        for name, info in sorted(fs.find(root, detail=True).items()):
            version = next((info[k] for k in ("mtime", "ETag", "etag", "md5Hash", "generation", "LastModified")
                            if info.get(k) is not None), None)
            listing.append([name[len(base):] if name.startswith(base) else name, info.get("size"), version])
        return _digest({"path": path, "files": listing})
    except (OSError, ValueError):  # unreadable: a key that matches nothing saved
        return _digest({"path": path, "unreadable": True})


def settings(cfg: Any) -> dict:
    """Inference settings that shape the answers (not the ones that only change speed)."""
    e, g = cfg.eval, cfg.generate
    return dict(engine=e.engine, max_prompt_tokens=e.max_prompt_tokens, temperature=e.temperature, top_p=e.top_p,
                seed=cfg.seed, system_prompt=g.system_prompt, dtype=g.dtype, trust_remote_code=g.trust_remote_code,
                engine_kwargs=dict(g.engine_kwargs), max_model_len=g.max_model_len)


def unit_key(*, model_key: str, model_path: str, model_fp: str, task: str, unit: str, requests: Iterable[dict],
             inference: dict) -> str:
    reqs = [{f: r.get(f) for f in REQUEST_FIELDS} for r in requests]
    return _digest(dict(format=FORMAT, model=model_key, path=model_path, fingerprint=model_fp, task=task, unit=unit,
                        requests=reqs, inference=inference))


def unit_path(folder: str, model_key: str, task: str, unit: str) -> str:
    return storage.join(folder, UNITS, f"{model_key}.{task}.{unit}.jsonl")


def save(path: str, key: str, rows: list[dict]) -> None:
    header = dict(format=FORMAT, key=key, rows=len(rows))
    lines = [json.dumps(header)] + [json.dumps(row, ensure_ascii=False) for row in rows]
    storage.write_text(path, "\n".join(lines) + "\n")


def load(path: str, key: str) -> Optional[list[dict]]:
    """The rows saved at ``path`` when they were computed under ``key`` and none is missing; else None."""
    try:
        text = storage.read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("eval: cannot read saved predictions %s (%s); recomputing them", path, exc)
        return None
    if text is None:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        header = json.loads(lines[0]) if lines else {}
        if header.get("format") != FORMAT or header.get("key") != key:
            return None
        rows = [json.loads(line) for line in lines[1:]]
    except json.JSONDecodeError:
        log.warning("eval: saved predictions %s are damaged; recomputing them", path)
        return None
    if len(rows) != header.get("rows"):
        log.warning("eval: saved predictions %s hold %d of %s rows; recomputing them", path, len(rows),
                    header.get("rows"))
        return None
    return rows
