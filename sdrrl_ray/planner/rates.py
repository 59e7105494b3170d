"""Throughput per device for each phase: from the committed benchmark results when one fits the node
type, else a declared default; every rate names its source and how it was scaled.

A rate measured on another model size is scaled by the parameter ratio (compute per token grows with
the parameters; on a GPU a rate is never scaled up for a smaller model, which leaves the GPU underused);
one measured on another GPU kind by the ratio of dense bf16 peaks. A CPU measurement
is never used for a GPU node type, nor the reverse.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from typing import Optional

from sdrrl_ray.planner.nodes import NodeType, device_kind, peak_tflops

REPO_RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "benchmarks", "results")

# Declared defaults, used when no result file fits (each says where it comes from).
TRAIN_MFU = 0.40  # DESIGN.md performance target; its published 7B anchor: 3.1k tokens/s/GPU on A100 at 40% MFU
GEN_MFU = {"vllm": 0.10, "hf": 0.02}  # planner assumption: batched vLLM decoding ~10% of dense peak, HF generate ~2%
MT_MFU = 0.10  # planner assumption for batched CTranslate2 / transformers beam search on a GPU
CPU_FLOPS = 2e10  # planner assumption: ~20 GFLOP/s sustained by a 2-vCPU node in fp32
DEFAULT_SOURCE = "default (planner assumption, no fitting benchmark result)"


@dataclass(frozen=True)
class Rate:
    phase: str
    tokens_per_s: float  # per device: per GPU, or per node on a CPU node type
    source: str  # result file, or the default's name
    detail: str  # what was measured and how it was scaled

    def to_dict(self) -> dict:
        return {"tokens_per_s": round(self.tokens_per_s, 3), "source": self.source, "detail": self.detail}


def results_dir(given: Optional[str]) -> Optional[str]:
    """``given``, else the repository's ``benchmarks/results`` beside the package, else None (defaults only)."""
    if given:
        return given
    return REPO_RESULTS if os.path.isdir(REPO_RESULTS) else None


def load_results(folder: Optional[str]) -> list[tuple[str, dict]]:
    """(path, parsed JSON) of every ``*.json`` in ``folder`` (none when it is missing)."""
    out = []
    if folder and os.path.isdir(folder):
        for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
            try:
                with open(path, encoding="utf-8") as fh:
                    data = json.load(fh)
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                out.append((path, data))
    return out


def _kind(path: str, data: dict) -> str:
    name = data.get("benchmark") or os.path.basename(path)
    for kind in ("generate", "translate", "train"):
        if str(name).startswith(kind):
            return kind
    return ""


def _device(data: dict, row: dict) -> str:
    machine = data.get("machine") or {}
    name = row.get("device") or data.get("device") or machine.get("cuda") or machine.get("device")
    if name is True:
        return "GPU"
    return device_kind(name or None)


def _rows(data: dict) -> list[dict]:
    rows = data.get("results") or data.get("result") or []
    rows = rows if isinstance(rows, list) else [rows]
    return [r for r in rows if isinstance(r, dict)] or [data]


def _params(data: dict, row: dict) -> Optional[float]:
    model = data.get("model") or {}
    for value in (row.get("params"), model.get("params") if isinstance(model, dict) else None,
                  model.get("parameters") if isinstance(model, dict) else None, data.get("params")):
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return None


def _scale(value: float, params_b: Optional[float], params: float, dev_b: str, node: NodeType) -> tuple[float, str]:
    notes = []
    if params_b and params and abs(params_b / params - 1) > 0.01:
        if node.is_gpu and params < params_b:  # a GPU is not busier with a smaller model: keep the measured rate
            notes.append(f"measured on {params_b / 1e6:.4g}M params, not scaled up for {params / 1e6:.4g}M "
                         "(a small model leaves the GPU underused)")
        else:
            value *= params_b / params
            notes.append(f"scaled by model size {params_b / 1e6:.4g}M -> {params / 1e6:.4g}M params")
    if node.is_gpu and dev_b != node.device:
        pb = peak_tflops(dev_b)
        if pb and node.peak_tflops:
            value *= node.peak_tflops / pb
            notes.append(f"scaled by bf16 peak {dev_b} {pb:g} -> {node.device} {node.peak_tflops:g} TFLOP/s")
        else:
            notes.append(f"measured on {dev_b}, used as is for {node.device}")
    return value, "; ".join(notes)


def _fits(dev: str, node: NodeType) -> bool:
    return (dev == "cpu") == (not node.is_gpu)


def _best(candidates: list, node: NodeType):
    """Prefer a measurement on the node's own device kind, then the fastest."""
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c["device"] == node.device, c["value"]))


# --------------------------------------------------------------------------------------------


def generation_rate(results: list, node: NodeType, engine: str, params: float, phase: str = "generate") -> Rate:
    cands = []
    for path, data in results:
        if _kind(path, data) != "generate" or data.get("engine", engine) != engine:
            continue
        for row in _rows(data):
            if row.get("side") not in (None, "pipeline"):
                continue  # the pipeline's own rate, not the plain-loop reference
            value = row.get("tokens_per_s_per_gpu") or row.get("tokens_per_s")
            dev = _device(data, row)
            if isinstance(value, (int, float)) and value > 0 and _fits(dev, node):
                cands.append(dict(path=path, value=float(value), device=dev, params=_params(data, row),
                                  what=f"{engine} pipeline, batch {row.get('batch_size', '?')}, {dev}"))
    best = _best(cands, node)
    if best:
        value, how = _scale(best["value"], best["params"], params, best["device"], node)
        return Rate(phase, value, best["path"], f"{best['value']:.4g} output tokens/s measured ({best['what']})"
                    + (f"; {how}" if how else ""))
    if node.is_gpu:
        mfu = GEN_MFU.get(engine, GEN_MFU["hf"])
        value = mfu * node.peak_tflops * 1e12 / (2 * params)
        return Rate(phase, value, DEFAULT_SOURCE,
                    f"{engine}: {mfu:.0%} of {node.device} bf16 peak at 2N FLOP per output token")
    return Rate(phase, CPU_FLOPS / (2 * params), DEFAULT_SOURCE, f"{CPU_FLOPS:.0e} FLOP/s at 2N FLOP per output token")


def translation_rate(results: list, node: NodeType, backend: str, params: float, beam: int) -> Rate:
    """Output (target-side) tokens per second of the MT model."""
    precision = "int8" if not node.is_gpu else "float16"
    cands = []
    for path, data in results:
        if _kind(path, data) != "translate":
            continue
        for row in _rows(data):
            if row.get("backend", backend) != backend:
                continue
            seg = row.get("segments_per_s")
            out = row.get("out_tokens_per_segment") or data.get("out_len")
            value = row.get("tokens_per_s") or (seg * out if seg and out else None)
            dev = _device(data, row)
            if isinstance(value, (int, float)) and value > 0 and _fits(dev, node):
                prec = row.get("precision", "?")
                cands.append(dict(path=path, value=float(value), device=dev, params=_params(data, row),
                                  prec_match=prec == precision,
                                  what=f"{backend} {prec}, beam {data.get('beam', '?')}, {dev}"))
    cands = [c for c in cands if c["prec_match"]] or cands
    best = _best(cands, node)
    if best:
        value, how = _scale(best["value"], best["params"], params, best["device"], node)
        return Rate("translate", value, best["path"], f"{best['value']:.4g} output tokens/s measured ({best['what']})"
                    + (f"; {how}" if how else ""))
    flops = params * (beam + 1)  # encoder once + decoder per beam hypothesis, ~N/2 each
    if node.is_gpu:
        return Rate("translate", MT_MFU * node.peak_tflops * 1e12 / flops, DEFAULT_SOURCE,
                    f"{MT_MFU:.0%} of {node.device} bf16 peak at N x (beam+1) FLOP per output token")
    return Rate("translate", CPU_FLOPS / flops, DEFAULT_SOURCE,
                f"{CPU_FLOPS:.0e} FLOP/s at N x (beam+1) FLOP per output token")


def training_rate(results: list, node: NodeType, params: float, zero_stage: int) -> Rate:
    """Training tokens per second per device: MFU x peak / 6N on a GPU; measured tokens/s scaled on a CPU."""
    mode = {3: "zero3", 2: "zero2"}.get(zero_stage, "ddp")
    cands = []
    for path, data in results:
        if _kind(path, data) != "train":
            continue
        for row in _rows(data):
            dev = _device(data, row)
            if not _fits(dev, node):
                continue
            if node.is_gpu and isinstance(row.get("mfu"), (int, float)) and row["mfu"] > 0:
                cands.append(dict(path=path, value=float(row["mfu"]), device=dev, params=_params(data, row),
                                  what=f"MFU {row['mfu']:.1%} measured ({dev}, ZeRO-{row.get('zero_stage', '?')}, "
                                       f"{(_params(data, row) or 0) / 1e9:.2g}B params)"))
            elif not node.is_gpu and row.get("mode", mode) == mode and row.get("tokens_per_s"):
                cands.append(dict(path=path, value=float(row["tokens_per_s"]), device=dev, params=_params(data, row),
                                  what=f"{row['tokens_per_s']:.4g} tokens/s measured ({mode}, "
                                       f"{row.get('workers', '?')} workers)"))
    best = _best(cands, node)
    if best and node.is_gpu:
        value = best["value"] * node.peak_tflops * 1e12 / (6 * params)
        note = "; MFU taken as size-independent" if best["params"] and abs(best["params"] / params - 1) > 0.01 else ""
        return Rate("train", value, best["path"], f"{best['what']} x {node.device} peak / 6N{note}")
    if best:
        value, how = _scale(best["value"], best["params"], params, best["device"], node)
        return Rate("train", value, best["path"], best["what"] + (f"; {how}" if how else ""))
    if node.is_gpu:
        return Rate("train", TRAIN_MFU * node.peak_tflops * 1e12 / (6 * params),
                    "default (DESIGN.md target: 40% MFU; 7B anchor 3.1k tokens/s/GPU on A100)",
                    f"{TRAIN_MFU:.0%} MFU x {node.device} peak / 6N")
    return Rate("train", CPU_FLOPS / (6 * params), DEFAULT_SOURCE, f"{CPU_FLOPS:.0e} FLOP/s at 6N FLOP per token")
