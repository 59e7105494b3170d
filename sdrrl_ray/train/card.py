"""The model card, ``README.md`` in each exported model folder, in the Hugging Face model-card format: YAML
front matter (base model, languages, licence, tags, datasets), then the base model, the transfer set (rows
per subset, from ``OUT/manifest.json``), the training settings and result (``train_summary.json``), an
evaluation summary (from ``OUT/report.json`` when there is one) and the licences the model inherits.

Written on the driver after each target's fit (:mod:`sdrrl_ray.train.run`), also into the per-epoch exports;
rewritten with the evaluation summary after ``sdrrl eval`` (:func:`update_cards`, called by the phase table).
The dataset card of the transfer set is :mod:`sdrrl_ray.transfer.card`.
"""

from __future__ import annotations

import json
import logging
from typing import Optional

from sdrrl_ray import languages, storage
from sdrrl_ray.layout.paths import TRAIN_SUMMARY, Out

log = logging.getLogger("sdrrl_ray")

CARD = "README.md"
LICENCE = "inherits the base model's licence"


def _front_matter(base_model: str, langs: list, datasets: list) -> list[str]:
    q = json.dumps  # a JSON string is a YAML string
    return [
        "---",
        f"base_model: {q(base_model)}",
        "language:", *[f"- {q(code)}" for code in langs],
        "license: other",
        "license_name: inherited",
        f"license_details: {q(LICENCE)}",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags:", "- sdrrl", "- self-distillation", "- code-switching", "- multilingual", "- deepspeed-zero",
        *(["datasets:", *[f"- {q(d)}" for d in datasets]] if datasets else ["datasets: []"]),
        "---",
    ]


def _model_key(report: dict, model_dir: str) -> Optional[tuple[str, Optional[str]]]:
    """(row name, column) of this model folder in ``report.json``'s tables; None when it was not evaluated."""
    want = storage.absolute(model_dir).rstrip("/")
    for m in report.get("models") or []:
        if m.get("path") and storage.absolute(str(m["path"])).rstrip("/") == want:
            return m.get("name"), m.get("target")
    return None


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def evaluation_lines(report: Optional[dict], model_dir: str) -> list[str]:
    """One line per report table: this model's score, the baseline's and n (its column, or the average)."""
    if not report:
        return ["Not evaluated yet: `sdrrl eval CONFIG` writes `OUT/report.md` and fills this section in."]
    key = _model_key(report, model_dir)
    if key is None:
        return [f"`OUT/report.json` ({report.get('created')}) does not evaluate this folder."]
    name, target = key
    base = report.get("baseline")
    lines = [f"From `report.json` ({report.get('created')}); `report.md` has the intervals and paired tests.", "",
             f"| table | this model | {base} | n |", "|---|---|---|---|"]
    for table in report.get("tables") or []:
        rows = {r.get("model"): r for r in table.get("rows") or []}
        mine, ref = rows.get(name), rows.get(base)
        if mine is None:
            continue

        def cell(row):
            if row is None:
                return None
            return (row.get("values") or {}).get(target) if target else row.get("avg")

        n = (mine.get("n") or {}).get(target) if target else mine.get("avg_n")
        lines.append(f"| {table.get('title')} | {_fmt(cell(mine))} | {_fmt(cell(ref))} | {n} |")
    return lines


def card_text(summary: dict, manifest: dict, train_config: dict, report: Optional[dict] = None,
              epoch: Optional[int] = None) -> str:
    """The card of the model ``summary`` describes (a ``train_summary.json``), trained on the transfer set of
    ``manifest`` with ``train_config`` (the train section); ``epoch``: the card of a per-epoch export."""
    cfg = manifest.get("config") or {}
    source = (cfg.get("languages") or {}).get("source") or "en"
    targets = list(summary.get("targets") or [])
    langs = [source] + [t for t in targets if t != source]
    base_model = str(summary.get("base_model") or "")
    data = (cfg.get("data") or {}).get("path")
    datasets = [d for d in (data, *((cfg.get("parallel") or {}).get("paths") or {}).values()) if d]
    tc, tr, res = train_config, summary.get("train") or {}, summary.get("result") or {}
    subsets = dict(manifest.get("subsets") or {})
    subsets.update({s: "n/a" for s in (tr.get("subsets") or {}) if s not in subsets})
    seed = cfg.get("seed", tc.get("seed"))
    names = ", ".join(languages.name_of(t) for t in targets)
    what = (f"the weights after epoch {epoch} of the run (a per-epoch export; the run's model folder holds "
            f"the best epoch's)" if epoch is not None else "the exported model of the run")
    lines = _front_matter(base_model, langs, [str(d) for d in datasets]) + [
        "",
        f"# SDRRL: {languages.name_of(source)} -> {names}",
        "",
        f"`{base_model}` fine-tuned with SDRRL (Self-Distillation from Resource-Rich Languages, Zhang et al., "
        f"ACL 2024) by sdrrl-ray: {what}. Loads with `AutoModelForCausalLM.from_pretrained(FOLDER)`; "
        "prompts use the tokenizer's chat template.",
        "",
        "## Base model",
        "",
        f"`{base_model}`",
        "",
        "## Transfer set",
        "",
        f"Languages: {', '.join(f'{languages.name_of(c)} (`{c}`)' for c in langs)}. "
        f"Rows per subset in `OUT/manifest.json` (every target; rows_written={manifest.get('rows_written')}):",
        "",
        "| subset | rows | trained rows (this model) | loss weight |",
        "|---|---|---|---|",
        *[f"| {s} | {n} | {(tr.get('subsets') or {}).get(s, 0)} | {_weight((tr.get('weights') or {}).get(s))} |"
          for s, n in subsets.items()],
        "",
        f"Held out for early stopping: {(summary.get('heldout') or {}).get('rows')} rows; "
        f"tokenization: {(summary.get('tokenize') or {}).get('trimmed')} trimmed, "
        f"{(summary.get('tokenize') or {}).get('rejected')} rejected at max_length "
        f"{(summary.get('tokenize') or {}).get('max_length')}.",
        "",
        "## Training",
        "",
        f"- epochs run: {res.get('epochs_run')} of {tc.get('epochs')}"
        + (" (stopped early)" if res.get("stopped_early") else "")
        + f"; best epoch: {_epoch(res.get('best_epoch'))}"
        + (f" (held-out loss {res['best_heldout_loss']:.4f})" if res.get("best_heldout_loss") is not None else "")
        + f"; exported epoch: {_epoch(res.get('exported_epoch'))}; steps: {res.get('steps')}",
        f"- learning rate {tc.get('learning_rate')} ({tc.get('lr_schedule')}, warmup {tc.get('warmup_ratio')}), "
        f"weight decay {tc.get('weight_decay')}, gradient clipping {tc.get('max_grad_norm')}",
        f"- batch: global {tr.get('global_batch')} = micro {tc.get('micro_batch_size')} x accumulation "
        f"{tc.get('grad_accum')} x {res.get('world_size') or tc.get('num_workers')} workers; "
        f"max_length {tc.get('max_length')}; packing {tc.get('packing')}",
        f"- loss weighting: {tr.get('loss_weighting') or tc.get('loss_weighting')} "
        "(eq6: each subset's mean loss weighted equally, the paper's Eq. 6)",
        f"- DeepSpeed ZeRO stage {tc.get('zero_stage')}, precision {res.get('precision') or tc.get('precision')}, "
        f"export dtype {tc.get('export_dtype')}" + (f", LoRA {tc.get('lora')}" if tc.get("lora") else ""),
        f"- seed {seed}; run `{summary.get('run')}` (fingerprint {summary.get('fingerprint')})",
        "",
        "## Evaluation",
        "",
        *(evaluation_lines(report, summary.get("model_dir") or "") if epoch is None
          else ["See `OUT/report.md` (per-epoch off-target rates, when evaluated)."]),
        "",
        "## Licence",
        "",
        f"The model {LICENCE} (`{base_model}`), and the terms of what it was trained on:",
        "",
        *[f"- {text}" for text in manifest.get("licences") or ["transfer set licences: not recorded"]],
        f"- parallel corpus: {', '.join(map(str, ((cfg.get('parallel') or {}).get('paths') or {}).values())) or 'none'}"
        " (its own licence)",
        "",
    ]
    return "\n".join(lines)


def _weight(w) -> str:
    return "-" if w is None else f"{w:.3f}"


def _epoch(e) -> str:
    return "n/a" if e is None else str(int(e) + 1)  # the log counts from 0, folders and cards from 1


def write_card(model_dir: str, *, summary: dict, out_dir: str, train_config: dict,
               report: Optional[dict] = None, epoch: Optional[int] = None) -> str:
    """Write ``model_dir/README.md``; returns its path."""
    manifest = storage.read_json(Out(out_dir).manifest) or {}
    url = storage.join(model_dir, CARD)
    storage.write_text(url, card_text(summary, manifest, train_config, report, epoch))
    return url


def update_cards(out_dir: str) -> list[str]:
    """After ``sdrrl eval``: rewrite the card of every trained model folder with the evaluation summary."""
    out = Out(out_dir)
    manifest = storage.read_json(out.train_manifest) or {}
    report = storage.read_json(out.report_json)
    written = []
    for model_dir in (manifest.get("model_dirs") or {}).values():
        summary = storage.read_json(storage.join(model_dir, TRAIN_SUMMARY))
        if not summary:
            continue
        try:
            written.append(write_card(model_dir, summary=summary, out_dir=out_dir, report=report,
                                      train_config={**(manifest.get("config") or {}), "seed": manifest.get("seed")}))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("the model card of %s was not updated (%s)", model_dir, exc)
    return written

