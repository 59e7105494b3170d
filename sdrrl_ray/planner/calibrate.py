"""``limit=N``: run the real transfer-set phase on the first N items into a temporary folder and measure
what the estimate otherwise assumes: self-answer length, translation expansion, kept share of each
variant (filter rejects), the end-to-end time, and the steady-state tokens/s of the configured generation
engine and translation backend on this machine (models loaded before timing)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections import defaultdict
from typing import Any, Optional

from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.extras import require_phases
from sdrrl_ray.planner.tokens import count
from sdrrl_ray.schema import LL, LT, VARIANTS


def local_device() -> tuple[str, int]:
    """(device kind, devices) of this machine: the first CUDA device's kind, else ('cpu', 1)."""
    from sdrrl_ray.planner.nodes import device_kind

    try:
        import torch

        if torch.cuda.is_available():
            return device_kind(torch.cuda.get_device_name(0)), torch.cuda.device_count()
    except ImportError:
        pass
    return "cpu", 1


def run(cfg: Config, limit: int) -> dict:
    """Run ``sdrrl transfer-set`` on ``limit`` items; the measurements and the temp folder's manifest."""
    import ray

    from sdrrl_ray.layout.parts import read_parts
    from sdrrl_ray.transfer.run import run_transfer_set

    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise UserError(f"limit={limit!r} must be a positive integer (items to calibrate on)")
    require_phases(cfg, ["transfer-set"], f"sdrrl plan limit={limit} (a transfer-set run)")
    tmp = tempfile.mkdtemp(prefix="sdrrl-plan-")
    ccfg = dataclasses.replace(cfg, out_dir=tmp, data=dataclasses.replace(cfg.data, limit=limit),
                               generate=dataclasses.replace(cfg.generate, cache_dir=""))
    started_ray = not ray.is_initialized()
    try:
        t0 = time.perf_counter()
        manifest = run_transfer_set(ccfg)
        wall = time.perf_counter() - t0
        table = read_parts(tmp)
        rows = table.to_pylist() if table is not None else []
    finally:
        if started_ray and ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    device, devices = local_device()
    return dict(limit=limit, items=manifest["stages"]["generate"]["out"], records=manifest["rows_in"],
                rows_written=manifest.get("rows_written", len(rows)), subsets=manifest.get("subsets", {}),
                reject_reasons=manifest.get("reject_reasons", {}), wall_s=wall,
                pipeline_s=manifest.get("wall_seconds_last_run", wall), device=device, devices=devices,
                rows=rows)


def measurements(cal: dict, tok: Any, targets: list, source: str) -> dict:
    """From the calibration rows: mean self-answer tokens, per-target answer expansion and kept shares."""
    rows = [r for r in cal["rows"] if r.get("subset") in VARIANTS]
    by = defaultdict(dict)  # (tgt, item) -> subset -> row
    for r in rows:
        by[(r["tgt_lang"], r["item_id"])][r["subset"]] = r
    self_answers = {r["item_id"]: r["answer"] for r in rows if r["subset"] == LL and r["answer_source"] == "self"}
    out: dict = {"self_tokens": None, "expansion": {}, "keep": {}}
    if self_answers:
        out["self_tokens"] = float(count(tok, list(self_answers.values())).mean())
    items = max(1, cal["items"])
    for tgt in targets:
        src_ans, tgt_ans = [], []
        for (t, _item), subs in by.items():
            if t == tgt and LL in subs and LT in subs:
                src_ans.append(subs[LL]["answer"])
                tgt_ans.append(subs[LT]["answer"])
        if src_ans:
            n_src = int(count(tok, src_ans).sum())
            out["expansion"][tgt] = float(count(tok, tgt_ans).sum()) / n_src if n_src else None
        counts = defaultdict(int)
        for (t, _item), subs in by.items():
            if t == tgt:
                for v in subs:
                    counts[v] += 1
        out["keep"][tgt] = {v: counts[v] / items for v in VARIANTS}
    out["items_per_s"] = cal["items"] / cal["wall_s"] if cal["wall_s"] else None
    out["source"] = source
    return out


def stage_rates(cfg: Config, rows: list, *, model_path: str, mt_path: Optional[str], batches: int = 3) -> dict:
    """Steady-state output tokens/s of the configured generation engine and translation backend on this
    machine, on the calibration items' own texts: models are loaded first and a warm-up batch is not
    timed, so start-up does not count (it does in the end-to-end time)."""
    from sdrrl_ray.engines.base import SamplingSettings
    from sdrrl_ray.engines.build import build_engine
    from sdrrl_ray.prompts import render_prompt
    from sdrrl_ray.transfer.plan import backend_options, engine_options, sampling_settings

    ll = [r for r in rows if r.get("subset") == LL]
    questions = list(dict.fromkeys(r["question"] for r in ll)) or ["Say hello."]
    answers = list(dict.fromkeys(r["answer"] for r in ll if r["answer"]))
    out: dict = {}
    engine = build_engine(cfg.generate.engine, model_path, engine_options(cfg))
    prompts = [render_prompt(engine.tokenizer, q, cfg.generate.system_prompt) for q in questions]
    sampling = SamplingSettings(**sampling_settings(cfg))
    bs = cfg.generate.pool.batch_size
    engine.generate(prompts[:bs], sampling)  # warm-up
    tokens, seconds = _timed(lambda chunk: sum(r.n_output_tokens for r in engine.generate(chunk, sampling)),
                             prompts, bs, batches)
    out["generate"] = {"tokens": tokens, "seconds": seconds, "engine": cfg.generate.engine}
    engine = None  # free the model before the translation model loads
    if mt_path and cfg.translate.backend != "llm":
        from sdrrl_ray.mt.backends import build_backend
        from sdrrl_ray.mt.segment import segment
        from sdrrl_ray.stages.translate import CHARS_PER_TOKEN

        t = cfg.translate
        backend = build_backend(t.backend, mt_path, backend_options(cfg))

        # the sentences the translation stage would send (long texts are split as in the pipeline)
        texts = [seg for text in questions + answers
                 for seg in segment(text, cfg.languages.source, max_chars=t.max_input_tokens * CHARS_PER_TOKEN,
                                    split_sentences=t.segment).segments]
        tgt = cfg.languages.targets[0]
        backend.translate_batch(texts[:1], cfg.languages.source, tgt)  # warm-up


        def translate(chunk: list) -> int:
            try:
                return int(count(backend.tokenizer, backend.translate_batch(chunk, cfg.languages.source, tgt)).sum())
            except Exception:  # noqa: BLE001 - as the stage does: a failing batch is retried row by row
                done = 0
                for seg in chunk:
                    try:
                        done += int(count(backend.tokenizer,
                                          backend.translate_batch([seg], cfg.languages.source, tgt)).sum())
                    except Exception:  # noqa: BLE001 - the stage rejects this row; its time still counts
                        pass
                return done

        tokens, seconds = _timed(translate, texts, t.pool.batch_size, batches)
        out["translate"] = {"tokens": tokens, "seconds": seconds, "backend": f"{t.backend} en->{tgt}"}
    return out


def _timed(fn, items: list, batch: int, batches: int) -> tuple[int, float]:
    """(tokens, seconds) over up to ``batches`` batches of ``items`` (repeated when there are few)."""
    work = (items * (1 + (batch * batches) // max(1, len(items))))[: batch * batches]
    tokens, t0 = 0, time.perf_counter()
    for start in range(0, len(work), batch):
        tokens += fn(work[start:start + batch])
    return tokens, time.perf_counter() - t0
