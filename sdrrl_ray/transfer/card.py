"""The transfer set's dataset card, ``OUT/README.md``, in the Hugging Face dataset-card format: YAML
front matter (languages, licence, task categories, size, a ``configs`` entry naming the Parquet parts),
then what each subset is, rows per subset and target, the columns, how the set was built (from
``OUT/manifest.json``) and how to load it.

The card sits beside ``OUT/transfer_set``, not in it: the project's readers list ``part-*.parquet``
only, but pyarrow and pandas read a folder whole and fail on a file that is not Parquet. Written at
the end of ``sdrrl transfer-set`` and by ``sdrrl export``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Optional

from sdrrl_ray import languages, storage
from sdrrl_ray.layout.parts import read_parts
from sdrrl_ray.layout.paths import TRANSFER_SET, Out
from sdrrl_ray.schema import KEPT_COLUMN_DOCS, KEPT_SCHEMA, SUBSET_DOCS, SUBSETS

LICENCE = "inherits the instruction set's and the parallel corpus's licences"
DATA_FILES = f"{TRANSFER_SET}/part-*.parquet"  # relative to OUT
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def size_category(n: int) -> str:
    """The Hugging Face ``size_categories`` bucket of ``n`` rows."""
    return next((name for bound, name in SIZES if n < bound), "n>100M")


def row_counts(out_dir: str) -> Counter:
    """(subset, target) -> committed rows of ``OUT/transfer_set``."""
    table = read_parts(out_dir, TRANSFER_SET, ["subset", "tgt_lang"])
    if table is None:
        return Counter()
    return Counter(zip(table.column("subset").to_pylist(), table.column("tgt_lang").to_pylist()))


_name = languages.name_of


def _front_matter(source: str, targets: list, total: int) -> list[str]:
    q = json.dumps  # a JSON string is a YAML string
    langs = [source] * bool(source) + [t for t in targets if t != source]
    return [
        "---",
        "language:", *[f"- {q(code)}" for code in langs],
        "license: other",
        "license_name: inherited",
        f"license_details: {q(LICENCE)}",
        "multilinguality: multilingual",
        "task_categories:", "- text-generation", "- translation",
        "tags:", "- sdrrl", "- self-distillation", "- code-switching", "- instruction-tuning",
        "size_categories:", f"- {size_category(total)}",
        f"pretty_name: {q('SDRRL transfer set ' + source + ' -> ' + ', '.join(targets))}",
        "configs:", "- config_name: default", "  data_files:", "  - split: train", f"    path: {q(DATA_FILES)}",
        "---",
    ]


def _counts_table(counts: Counter, targets: list) -> list[str]:
    subsets = [s for s in SUBSETS if any(counts[(s, t)] for t in targets)]
    lines = [f"| subset | what it is | {' | '.join(targets)} | all |", "|---|---|" + "---|" * (len(targets) + 1)]
    for s in subsets:
        per = [counts[(s, t)] for t in targets]
        lines.append(f"| {s} | {SUBSET_DOCS[s]} | {' | '.join(map(str, per))} | {sum(per)} |")
    per = [sum(counts[(s, t)] for s in SUBSETS) for t in targets]
    lines.append(f"| all | | {' | '.join(map(str, per))} | {sum(per)} |")
    return lines


def _built(manifest: dict) -> list[str]:
    cfg = manifest.get("config") or {}

    def get(section: str, key: str, default=None):
        return (cfg.get(section) or {}).get(key, default)

    answer = f"{get('answer', 'mode')} (p_self={get('answer', 'p_self')})" if get("answer", "mode") == "mixed" \
        else get("answer", "mode")
    qe = get("filter", "qe") or {}
    cs = (f"on, p={get('code_switch', 'p')}, dictionaries {get('code_switch', 'dictionaries') or 'MUSE'}"
          if get("code_switch", "enabled") else "off")
    par = (f"{get('parallel', 'n_pairs')} pairs per target, tasks {get('parallel', 'tasks')}, "
           f"from {get('parallel', 'paths')}" if get("parallel", "enabled") and get("parallel", "paths") else "none")
    limit = get("data", "limit")
    return [
        f"- instructions: `{get('data', 'path')}`" + (f" (first {limit} records)" if limit else ""),
        f"- answers: {answer}; the model's own answers from `{get('generate', 'model')}` "
        f"(engine {get('generate', 'engine')}, temperature {get('generate', 'temperature')}, "
        f"max_new_tokens {get('generate', 'max_new_tokens')})",
        f"- translation: {get('translate', 'backend')} `{get('translate', 'model')}`, "
        f"beam {get('translate', 'beam_size')}",
        f"- filters: language-ID {'on' if get('filter', 'langid') else 'off'}, rules "
        f"{'on' if get('filter', 'rules') else 'off'}, CometKiwi QE "
        + (f"on (threshold {qe.get('threshold')})" if qe.get("enabled") else "off"),
        f"- code-switching of questions: {cs}",
        f"- parallel-corpus tasks: {par}",
        f"- subsets: {get('transfer', 'subsets')}; seed {cfg.get('seed')}",
        f"- ingest: {manifest.get('rows_in')} records read, {manifest.get('rows_out')} gave rows, "
        f"{manifest.get('rows_rejected')} rejected; {manifest.get('rejects_written')} reject rows in `rejects/` "
        f"(reasons: {manifest.get('reject_reasons') or {}})",
        f"- code commit {(manifest.get('provenance') or {}).get('code_commit')}, "
        f"fingerprint {manifest.get('fingerprint')}; the full resolved config is `config` in `manifest.json`",
    ]


def card_text(manifest: dict, counts: Counter, out_dir: str) -> str:
    """The card for a transfer set of ``counts`` rows built as ``manifest`` says."""
    cfg = manifest.get("config") or {}
    source = (cfg.get("languages") or {}).get("source") or ""
    targets = sorted({t for _, t in counts}) or list((cfg.get("languages") or {}).get("targets") or [])
    total = sum(counts.values())
    names = ", ".join(_name(t) for t in targets)
    files = storage.join(out_dir, DATA_FILES)
    lines = _front_matter(source, targets, total) + [
        "",
        f"# SDRRL transfer set: {_name(source)} -> {names}",
        "",
        "Training data for SDRRL (Self-Distillation from Resource-Rich Languages, Zhang et al., ACL 2024), "
        "built by sdrrl-ray: a model's answers to an instruction set in its strong language, questions and "
        "answers machine-translated into each target language, all four question/answer language pairs kept, "
        "code-switched questions, and translation and sentence-completion tasks from a parallel corpus. "
        "One row is one (question, answer) example; the loss is on the answer.",
        "",
        "## Subsets and rows",
        "",
        f"{total} rows (`manifest.json`: rows_written={manifest.get('rows_written')}).",
        "",
        *_counts_table(counts, targets),
        "",
        "## Columns",
        "",
        "| column | type | meaning |",
        "|---|---|---|",
        *[f"| {f.name} | {f.type} | {KEPT_COLUMN_DOCS.get(f.name, '')} |" for f in KEPT_SCHEMA],
        "",
        "`sdrrl export` adds `weight`: the per-example weight of the paper's Eq. 6, N / (K |D_d|) over the "
        "K subsets of a training group, as `sdrrl train` computes it (`train.loss_weighting`).",
        "",
        "## How it was built",
        "",
        *_built(manifest),
        "",
        "## Licence",
        "",
        f"The set {LICENCE}, and the terms of the models that wrote it:",
        "",
        *[f"- {text}" for text in manifest.get("licences") or ["not recorded"]],
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f"ds = load_dataset(\"parquet\", data_files={json.dumps(files)}, split=\"train\")",
        f"{(targets or ['xx'])[0]} = ds.filter(lambda row: row[\"tgt_lang\"] == {json.dumps((targets or ['xx'])[0])})",
        "```",
        "",
        "`load_dataset(FOLDER, split=\"train\")` on the folder of this card reads the same rows (its `configs`). "
        "Only committed parts belong to the set (`.commits/`); after a complete run every `part-*.parquet` is. "
        "For LLaMA-Factory (alpaca or sharegpt JSON lines with `dataset_info.json` and the weights): "
        "`sdrrl export CONFIG --format alpaca`.",
        "",
    ]
    return "\n".join(lines)


def write_card(out_dir: str, manifest: Optional[dict] = None) -> str:
    """Write ``OUT/README.md`` for the committed transfer set of ``out_dir``; returns its path."""
    manifest = manifest if manifest is not None else (storage.read_json(Out(out_dir).manifest) or {})
    url = Out(out_dir).card
    storage.write_text(url, card_text(manifest, row_counts(out_dir), out_dir))
    return url
