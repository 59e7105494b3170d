"""``sdrrl plan``: wire tokenizer, data, rates, node type and (optionally) a calibration run into one plan dict."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

from sdrrl_ray.config import Config
from sdrrl_ray.errors import UserError
from sdrrl_ray.planner import calibrate as C
from sdrrl_ray.planner import estimate as E
from sdrrl_ray.planner import rates as R
from sdrrl_ray.planner import startup as S
from sdrrl_ray.planner import tokens as T
from sdrrl_ray.planner.nodes import get_node


@dataclass(frozen=True)
class Options:
    node_type: Optional[str] = None
    price_per_hour: Optional[float] = None
    results_dir: Optional[str] = None
    tokenizer: Optional[str] = None  # folder (or "demo") whose tokenizer stands in for generate.model's
    params: Optional[float] = None  # parameters of the LLM when its config is not here
    answer_tokens: Optional[float] = None  # tokens per self-generated answer (default: max_new_tokens)
    limit: Optional[int] = None  # calibrate on the first N items


def load_plan_config(path: str, overrides: list) -> Config:
    """The config as ``load_config`` reads it, except that vllm need not be importable here: planning a
    vLLM run happens on a laptop as often as on the cluster, and the plan never loads vLLM."""
    from sdrrl_ray.config import load_config

    return load_config(path, overrides, require_engines=False)


def uses_gpu(cfg: Config) -> bool:
    return bool(cfg.train.use_gpu or cfg.generate.pool.num_gpus or cfg.translate.pool.num_gpus)


def _llm_path(cfg: Config, opts: Options) -> tuple[Optional[str], str]:
    """(local folder of generate.model or None, tokenizer folder to load)."""
    from sdrrl_ray.assets import resolve_model

    try:
        path = resolve_model(cfg.generate.model)
    except UserError as exc:
        if not opts.tokenizer:
            raise UserError(f"{exc}. sdrrl plan reads the model's tokenizer and config.json (no weights): run it where "
                            "that folder exists, or pass tokenizer=FOLDER (a folder with the same tokenizer; "
                            "tokenizer=demo for the built-in one) and params=N") from None
        path = None
    tok_path = resolve_model(opts.tokenizer, "tokenizer") if opts.tokenizer else path
    return (path if path and os.path.isdir(path) else None), tok_path


def _mt_path(cfg: Config) -> Optional[str]:
    if cfg.translate.backend == "llm":
        return None
    from sdrrl_ray.assets import resolve_translation_model

    try:
        path = resolve_translation_model(cfg.translate.model, cfg.languages.source, cfg.languages.targets[0])
    except UserError:
        return None
    return path if os.path.isdir(path) else None


def _params(cfg: Config, opts: Options, llm_path: Optional[str], mt_path: Optional[str]) -> tuple[dict, dict]:
    from sdrrl_ray.assets import resolve_model

    gen, gen_src = T.count_params(llm_path, cfg.generate.model)
    if opts.params:
        gen, gen_src = float(opts.params), "params given on the command line"
    train, train_src = gen, gen_src
    if cfg.train.model and cfg.train.model != cfg.generate.model:
        try:
            train_path = resolve_model(cfg.train.model, "train.model")
        except UserError:
            train_path = None
        train, train_src = T.count_params(train_path, cfg.train.model)
    if cfg.translate.backend == "llm":
        mt, mt_src = gen, gen_src
    else:
        mt, mt_src = T.count_params(mt_path, cfg.translate.model)
    params = {"generate": gen, "train": train, "translate": mt}
    sources = {"generate": gen_src, "train": train_src, "translate": mt_src}
    E.check_params(params, sources)
    return params, sources


def plan(cfg: Config, opts: Options = Options()) -> dict:
    node = get_node(opts.node_type, uses_gpu=uses_gpu(cfg), price_per_hour=opts.price_per_hour)
    folder = R.results_dir(opts.results_dir)
    if opts.results_dir and not os.path.isdir(opts.results_dir):
        raise UserError(f"results_dir={opts.results_dir} is not a folder; point it at benchmarks/results")
    results = R.load_results(folder)
    llm_path, tok_path = _llm_path(cfg, opts)
    tok = T.load_tokenizer(tok_path, "tokenizer" if opts.tokenizer else "generate.model")
    mt_path = _mt_path(cfg)
    mt_tok = T.load_tokenizer(mt_path, "translate.model") if mt_path else None
    params, param_sources = _params(cfg, opts, llm_path, mt_path)
    notes = []
    if opts.tokenizer:
        notes.append(f"token counts use the tokenizer of {tok_path}, not generate.model's")
    if cfg.train.model and cfg.train.model != cfg.generate.model:
        notes.append("training tokens are counted with generate.model's tokenizer (train.model differs)")

    cal = meas = None
    if opts.limit is not None:
        cal = C.run(cfg, opts.limit)
        meas = C.measurements(cal, tok, list(cfg.languages.targets), f"calibration on {cal['items']} items")
    m = E.measure(cfg, tok, tok_path, model_path=llm_path, mt_tok=mt_tok, mt_label=str(mt_path),
                  answer_tokens=opts.answer_tokens)
    if meas is not None:
        _apply_calibration(m, meas, cal, opts)
    tset = E.transfer_tokens(cfg, m)
    rates = E.phase_rates(cfg, results, node, params)
    if cal is not None:
        notes.append(_calibrated_rates(cfg, rates, cal, meas, node, llm_path, mt_path, m.items.n))
    phases = E.phase_table(cfg, m, tset, node, rates, tok)
    total = {k: sum(p[k] for p in phases.values()) for k in ("device_hours", "node_hours", "cost_usd", "wall_hours")}
    run = S.run_phases(cfg, phases, S.load(results, node))
    if run["source"] is None:
        notes.append(f"start-up (Ray, model loads, DeepSpeed, exports) not modelled for {node.name}: no "
                     "benchmarks/results/startup.json measured on its device kind")
    notes += _standard_notes(cfg, node, m)
    if "eval" in phases:
        notes.append(f"eval items: {phases['eval'].pop('items_source')}")
    if node.is_gpu and min(params.values()) < 1e8:
        notes.append("a model under 100M parameters does not fill a GPU: FLOP-based GPU rates are optimistic for it")
    return {
        "calibrated": cal is not None,
        "node": {"name": node.name, "device": node.device, "devices": node.devices,
                 "price_per_hour": node.price_per_hour, "price_source": node.price_source, "unit": node.unit},
        "tokenizer": tok_path,
        "results_dir": folder,
        "params": {k: {"value": v, "source": param_sources[k]} for k, v in params.items()},
        "source": _source_summary(cfg, m),
        "languages": tset,
        "phases": {k: {**{kk: vv for kk, vv in p.items() if kk != "rate"}, "rate": p["rate"].to_dict()}
                   for k, p in phases.items()},
        "total": total,
        "run_phases": run,
        "calibration": (None if cal is None
                        else {k: v for k, v in {**cal, **meas}.items() if k not in ("rows", "out_dir")}),
        "notes": [n for n in notes if n],
    }


def _source_summary(cfg: Config, m: E.Measured) -> dict:
    items = m.items
    return {"lang": cfg.languages.source, "records": items.n_records, "items": items.n,
            "rejected": dict(items.reject_reasons), "self_answers": int(items.self_answer.sum()),
            "to_generate": int(items.needs_generation.sum()),
            "question_tokens": int(items.q_tokens.sum()), "gold_answer_tokens": int(items.a_tokens.sum()),
            "self_answer_tokens": m.self_tokens, "self_answer_tokens_source": m.self_tokens_source,
            "template_tokens_per_row": round(m.overhead, 2), "max_length": m.max_length,
            "translation_output_ratio_source": m.mt_ratio_source}


def _apply_calibration(m: E.Measured, meas: dict, cal: dict, opts: Options) -> None:
    if meas["self_tokens"] and opts.answer_tokens is None:
        m.self_tokens = meas["self_tokens"]
        m.self_tokens_source = f"measured: mean self-answer tokens over {meas['source']}"
    for tgt, value in meas["expansion"].items():
        if value:
            old = m.ratios[tgt]
            m.ratios[tgt] = T.Ratio(tgt, value, f"measured: translated/English answer tokens, {meas['source']}",
                                    old.pairs, old.src_tokens, old.tgt_tokens)
    if any(meas["keep"].values()):
        m.keep = {t: dict(v) for t, v in meas["keep"].items()}
        m.keep_source = f"measured: kept share of each variant, {meas['source']}"


def _calibrated_rates(cfg: Config, rates: dict, cal: dict, meas: dict, node, model_path: Optional[str],
                      mt_path: Optional[str], n_items: int) -> str:
    """On the node's own device kind, steady-state rates measured with the real engine and MT backend on
    the calibration items replace the benchmark rates of generate / translate (and eval on the same engine)."""
    what = (f"calibration: {cal['items']} items through the transfer-set phase in {cal['wall_s']:.1f} s end-to-end "
            f"on {cal['device']} (start-up included; x{n_items / max(1, cal['items']):.1f} items would be "
            f"{cal['wall_s'] * n_items / max(1, cal['items']) / 3600:.3g} h at that pace)")
    if cal["device"] != node.device:
        return f"{what}; rates kept from benchmarks because {node.name} has {node.device}, not {cal['device']}"
    measured = C.stage_rates(cfg, cal["rows"], model_path=model_path, mt_path=mt_path)
    meas["stage_rates"] = measured
    for phase, got in measured.items():
        if got["seconds"] > 0 and got["tokens"] > 0:
            detail = (f"{got['tokens']} output tokens in {got['seconds']:.2f} s "
                      f"({got.get('engine') or got.get('backend')}, models loaded and warmed up first)")
            rates[phase] = R.Rate(phase, got["tokens"] / got["seconds"], f"calibration on {cal['device']}", detail)
            if phase == "generate" and cfg.eval.engine == cfg.generate.engine:
                rates["eval"] = R.Rate("eval", rates[phase].tokens_per_s, f"calibration on {cal['device']}", detail)
    return what + "; measured steady-state rates replace the benchmark rates of " + ", ".join(measured)


def _standard_notes(cfg: Config, node: Any, m: E.Measured) -> list:
    notes = [m.keep_source,
             "train tokens assume every epoch runs (early stopping may end sooner); held-out rows counted as training",
             "cost = device-hours / devices per node x price: it assumes every device of a node is kept busy"]
    from sdrrl_ray.config import vllm_available

    if "vllm" in (cfg.generate.engine, cfg.eval.engine) and not vllm_available():
        notes.append("vllm is not importable here: fine for planning, the run itself needs it")
    if not cfg.train.packing:
        notes.append("training compute includes padding to the longest row of each micro-batch (train.packing=false)")
    if uses_gpu(cfg) != node.is_gpu:
        notes.append(f"the config places its phases on {'GPUs' if uses_gpu(cfg) else 'CPUs'}; planned for {node.name} "
                     f"({node.device}) as asked")
    return notes
