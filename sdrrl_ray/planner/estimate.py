"""Combine token counts and rates into the plan: transfer-set tokens per language, device-hours per phase, cost.

The arithmetic is in small pure functions (:func:`variant_tokens`, :func:`padding_factor`,
:func:`phase_cost`) so that it can be tested without a model; :func:`measure` gathers the inputs with
the real tokenizer and :func:`estimate` assembles the plan.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.planner import rates as R
from sdrrl_ray.planner import tokens as T
from sdrrl_ray.planner.nodes import NodeType
from sdrrl_ray.schema import LL, LT, PARALLEL_TASKS, TL, TT, VARIANTS

EVAL_GENERATIVE = ("flores", "xlsum", "mkqa", "ner", "offtarget")  # belebele (loglik) and alignment: forward only


@dataclass
class Measured:
    """Everything the plan needs from the data and the tokenizer (before rates)."""

    tokenizer: str
    items: T.Items
    overhead: float  # template tokens per training row
    self_tokens: float  # tokens of one self-generated answer
    self_tokens_source: str
    max_length: int
    ratios: dict  # lang -> tokens.Ratio
    mt_ratios: dict  # lang -> MT output tokens per source LLM token
    mt_ratio_source: str
    switches: dict  # lang -> (Switch on source questions, Switch on target questions)
    parallel: dict  # lang -> (row tokens array, row subsets list, row item ids, note)
    keep: dict = field(default_factory=dict)  # lang -> variant -> kept share (1.0 = no filter rejects)
    keep_source: str = "assumed: no translation rejects (calibrate with limit=N to measure them)"


# --------------------------------------------------------------------------------------------
# pure arithmetic


def variant_tokens(q: np.ndarray, a: np.ndarray, *, ratio: float, overhead: float, max_length: int,
                   cs_src: float = 1.0, cs_tgt: float = 1.0) -> dict:
    """Per-item training tokens of LL/TL/LT/TT rows (arrays), from English question/answer tokens."""
    q, a = np.asarray(q, dtype=np.float64), np.asarray(a, dtype=np.float64)
    q_src, q_tgt, a_tgt = q * cs_src, q * ratio * cs_tgt, a * ratio
    raw = {LL: q_src + a, TL: q_tgt + a, LT: q_src + a_tgt, TT: q_tgt + a_tgt}
    return {v: np.minimum(max_length, overhead + x) for v, x in raw.items()}


def padding_factor(item_rows: list, micro_batch: int, seed: int = 0) -> float:
    """Padded / real tokens when each micro-batch is padded to its longest row: items in a random order,
    each item's rows adjacent (as the trainer orders them)."""
    if not item_rows or micro_batch <= 1:
        return 1.0
    order = np.random.default_rng(seed).permutation(len(item_rows))
    flat = np.concatenate([np.asarray(item_rows[i], dtype=np.float64) for i in order])
    real = flat.sum()
    if real <= 0:
        return 1.0
    n = len(flat) // micro_batch * micro_batch
    full = flat[:n].reshape(-1, micro_batch).max(axis=1).sum() * micro_batch
    rest = flat[n:].max() * (len(flat) - n) if len(flat) > n else 0.0
    return float((full + rest) / real)


def phase_cost(device_hours: float, node: NodeType) -> dict:
    """Node-hours and dollars for ``device_hours`` on ``node`` (all its devices busy)."""
    node_hours = device_hours / node.devices
    return {"device_hours": device_hours, "node_hours": node_hours, "cost_usd": node_hours * node.price_per_hour}


# --------------------------------------------------------------------------------------------
# measuring


def max_positions(path: Optional[str]) -> Optional[int]:
    cfg_file = os.path.join(path, "config.json") if path else ""
    if cfg_file and os.path.isfile(cfg_file):
        with open(cfg_file, encoding="utf-8") as fh:
            return json.load(fh).get("max_position_embeddings")
    return None


def measure(cfg: Config, tok: Any, tokenizer_label: str, *, model_path: Optional[str], mt_tok: Any = None,
            mt_label: str = "", answer_tokens: Optional[float] = None) -> Measured:
    from sdrrl_ray.codeswitch.lexicon import load_lexicons

    items = T.read_items(cfg, tok)
    limit = max_positions(model_path)
    max_length = min(cfg.train.max_length, limit) if limit else cfg.train.max_length
    if answer_tokens is not None:
        self_tokens, how = float(answer_tokens), "answer_tokens given on the command line"
    else:
        self_tokens, how = (float(cfg.generate.max_new_tokens),
                            "generate.max_new_tokens (upper bound; limit=N measures it)")
    src, targets = cfg.languages.source, list(cfg.languages.targets)
    cs = cfg.code_switch
    lexicons = load_lexicons(cs.dictionaries or None, src, targets, max_words=cs.max_ngram) if cs.enabled else {}
    n_cs = min(T.CODESWITCH_SAMPLE, items.n)
    ratios, mt_ratios, switches, parallel = {}, {}, {}, {}
    for tgt in targets:
        pairs, where = T.parallel_sample(cfg, tgt)
        ratios[tgt] = T.token_ratio(tok, pairs, tgt, where)
        if mt_tok is not None:
            mt_out = int(T.count(mt_tok, [p[1] for p in pairs]).sum())
            mt_ratios[tgt] = mt_out / ratios[tgt].src_tokens
        else:
            mt_ratios[tgt] = ratios[tgt].value
        switches[tgt] = (
            T.codeswitch_effect(tok, items.questions[:n_cs], lexicons.get((src, tgt)), lang=src, p=cs.p, seed=cfg.seed,
                                ids=[f"{i}:{tgt}:LL" for i in items.item_ids[:n_cs]]),
            T.codeswitch_effect(tok, [p[1] for p in pairs], lexicons.get((tgt, src)), lang=tgt, p=cs.p, seed=cfg.seed,
                                ids=[f"plan-sample:{tgt}:{k}" for k in range(len(pairs))]),
        )
        rows, note = T.parallel_rows(cfg, tgt)
        parallel[tgt] = (T.row_tokens(tok, rows, max_length, cfg.generate.system_prompt), [r["subset"] for r in rows],
                         [r["item_id"] for r in rows], note)
    overhead = T.template_overhead(tok, items.questions, items.answers, cfg.generate.system_prompt)
    mt_source = (f"MT tokenizer {mt_label} on the same parallel text" if mt_tok is not None
                 else "the LLM tokenizer's ratio (MT tokenizer not available here)")
    return Measured(tokenizer=tokenizer_label, items=items, overhead=overhead, self_tokens=self_tokens,
                    self_tokens_source=how, max_length=max_length, ratios=ratios, mt_ratios=mt_ratios,
                    mt_ratio_source=mt_source, switches=switches, parallel=parallel,
                    keep={t: {v: 1.0 for v in VARIANTS} for t in targets})


# --------------------------------------------------------------------------------------------
# the plan


def transfer_tokens(cfg: Config, m: Measured) -> dict:
    """Per target: rows and tokens of each subset, code-switched questions, totals and training tokens."""
    items = m.items
    answers = np.where(items.self_answer, m.self_tokens, items.a_tokens)
    variants = [v for v in VARIANTS if v in cfg.transfer.subsets]
    out = {}
    for tgt in cfg.languages.targets:
        sw_src, sw_tgt = m.switches[tgt] if cfg.code_switch.enabled else (T.Switch(1.0, 0.0, "off"),) * 2
        per = variant_tokens(items.q_tokens, answers, ratio=m.ratios[tgt].value, overhead=m.overhead,
                             max_length=m.max_length, cs_src=sw_src.factor, cs_tgt=sw_tgt.factor)
        subsets, item_rows = {}, []
        for v in variants:
            keep = m.keep.get(tgt, {}).get(v, 1.0)
            subsets[v] = {"rows": items.n * keep, "tokens": float(per[v].sum()) * keep}
        if variants:
            item_rows = [row for row in np.stack([per[v] for v in variants], axis=1)]
        ptoks, psubs, pitems, note = m.parallel[tgt]
        for task in PARALLEL_TASKS:
            if task in cfg.transfer.subsets and cfg.parallel.enabled:
                sel = [k for k, s in enumerate(psubs) if s == task]
                subsets[task] = {"rows": float(len(sel)), "tokens": float(ptoks[sel].sum()) if sel else 0.0}
        groups: dict = {}
        for k, item in enumerate(pitems):
            groups.setdefault(item, []).append(ptoks[k])
        item_rows += list(groups.values())
        switched = 0.0
        if cfg.code_switch.enabled:
            for v in variants:
                side = sw_tgt if v in (TL, TT) else sw_src
                if side.dictionary != "none":
                    switched += subsets[v]["rows"]
        total = sum(s["tokens"] for s in subsets.values())
        ratio = m.ratios[tgt].value
        out[tgt] = {
            "ratio": ratio, "ratio_source": m.ratios[tgt].source, "subsets": subsets,
            "question_tokens": float(items.q_tokens.sum()) * ratio, "answer_tokens": float(answers.sum()) * ratio,
            "rows": sum(s["rows"] for s in subsets.values()), "tokens": total,
            "train_tokens": total * cfg.train.epochs,
            "padding_factor": (1.0 if cfg.train.packing
                               else padding_factor(item_rows, cfg.train.micro_batch_size, cfg.seed)),
            "code_switch": {"questions": switched, "src_dict": sw_src.dictionary, "tgt_dict": sw_tgt.dictionary,
                            "src_token_factor": sw_src.factor, "tgt_token_factor": sw_tgt.factor,
                            "switched_words_per_question": sw_src.switched_per_question},
            "parallel_note": note,
        }
    return out


def generation_work(cfg: Config, m: Measured) -> dict:
    n = int(m.items.needs_generation.sum())
    return {"answers": n, "output_tokens": n * m.self_tokens,
            "prompt_tokens": float((m.items.q_tokens[m.items.needs_generation] + m.overhead).sum())}


def translation_work(cfg: Config, m: Measured, tgt: str) -> dict:
    from sdrrl_ray.transfer.plan import translation_needed

    if not translation_needed(cfg):
        return {"segments": 0, "source_tokens": 0.0, "output_tokens": 0.0}
    answers = np.where(m.items.self_answer, m.self_tokens, m.items.a_tokens)
    src = float(m.items.q_tokens.sum() + answers.sum())
    return {"segments": 2 * m.items.n, "source_tokens": src, "output_tokens": src * m.mt_ratios[tgt]}


def eval_work(cfg: Config, tok: Any = None, open_tokens: Optional[float] = None) -> dict:
    """Output tokens of evaluation (prompts are not counted): base + trained models x tasks x languages, items
    counted in the task files where they are readable, each at its expected length (:mod:`.eval_items`)."""
    from sdrrl_ray.planner.eval_items import EvalItems, supports

    targets = list(cfg.languages.targets)
    per_target = cfg.train.per_target and len(targets) > 1
    models = [targets] + ([[t] for t in targets] if per_target else [targets])
    if cfg.eval.models:
        models = [targets] * len(cfg.eval.models)
    counts = EvalItems(cfg, tok, open_tokens)
    tokens = 0.0
    for covered in models:
        for task in cfg.eval.tasks:
            if task in EVAL_GENERATIVE:
                tokens += counts.tokens(task, covered)
    n_models = len(models)
    if cfg.train.export_every_epoch and "offtarget" in cfg.eval.tasks and not cfg.eval.models:
        # each epoch's export of each trained model, on the off-target prompts of its own targets only
        groups = [[t] for t in targets] if cfg.train.per_target else [targets]
        n_models += cfg.train.epochs * len(groups)
        own = sum(counts.tokens("offtarget", [t]) - counts.tokens("offtarget", []) for t in targets
                  if supports(t, "offtarget"))
        tokens += cfg.train.epochs * own
    return {"models": n_models, "output_tokens": tokens, "items": counts.source()}


def phase_table(cfg: Config, m: Measured, tset: dict, node: NodeType, rates: dict, tok: Any = None) -> dict:
    """Device-hours, node-hours and cost per phase; wall-clock with the config's parallelism."""
    gen = generation_work(cfg, m)
    phases = {"generate": dict(work=f"{gen['answers']} answers x {m.self_tokens:.0f} tokens",
                               tokens=gen["output_tokens"], rate=rates["generate"],
                               parallel=_gpus(cfg.generate.pool, cfg.generate.tensor_parallel_size, node))}
    tr = {t: translation_work(cfg, m, t) for t in cfg.languages.targets}
    out_tokens = sum(w["output_tokens"] for w in tr.values())
    if out_tokens:
        phases["translate"] = dict(work=f"{sum(w['segments'] for w in tr.values())} segments "
                                        f"-> {out_tokens:,.0f} tokens",
                                   tokens=out_tokens, rate=rates["translate"],
                                   parallel=_gpus(cfg.translate.pool, 1, node))
    train_tokens = sum(t["train_tokens"] * t["padding_factor"] for t in tset.values())
    pad = train_tokens / max(1.0, sum(t["train_tokens"] for t in tset.values()))
    phases["train"] = dict(work=f"{sum(t['tokens'] for t in tset.values()):,.0f} tokens x {cfg.train.epochs} epochs"
                                + (f" x {pad:.2f} padding" if pad > 1.001 else ""),
                           tokens=train_tokens, rate=rates["train"],
                           parallel=cfg.train.num_workers if node.is_gpu else 1)
    gold = m.items.a_tokens[~m.items.self_answer] if len(m.items.a_tokens) else m.items.a_tokens
    ev = eval_work(cfg, tok, float(gold.mean()) if len(gold) else None)
    if ev["output_tokens"]:
        phases["eval"] = dict(work=f"{ev['models']} models", items_source=ev["items"], models=ev["models"],
                              tokens=ev["output_tokens"],
                              rate=rates["eval"], parallel=_gpus(cfg.eval.pool, 1, node))
    for p in phases.values():
        hours = p["tokens"] / p["rate"].tokens_per_s / 3600.0
        p.update(phase_cost(hours, node))
        p["wall_hours"] = hours / max(1, p["parallel"])
    return phases


def _gpus(pool: Any, tp: int, node: NodeType) -> int:
    if not node.is_gpu:
        return 1
    return max(1, int(pool.max_actors * max(pool.num_gpus, tp if pool.num_gpus else 0)))


def phase_rates(cfg: Config, results: list, node: NodeType, params: dict) -> dict:
    return {
        "generate": R.generation_rate(results, node, cfg.generate.engine, params["generate"]),
        "translate": (R.generation_rate(results, node, cfg.generate.engine, params["generate"], "translate")
                      if cfg.translate.backend == "llm" else
                      R.translation_rate(results, node, cfg.translate.backend, params["translate"],
                                         cfg.translate.beam_size)),
        "train": R.training_rate(results, node, params["train"], cfg.train.zero_stage),
        "eval": R.generation_rate(results, node, cfg.eval.engine, params["generate"], "eval"),
    }


def check_params(params: dict, sources: dict) -> None:
    missing = [k for k, v in params.items() if not v]
    if missing:
        raise UserError(f"cannot tell the parameter count of the {', '.join(missing)} model "
                        f"({'; '.join(sources[k] for k in missing)}); pass params=N (e.g. params=6.7e9)")
