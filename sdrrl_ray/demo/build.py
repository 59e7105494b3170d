"""Build (once) and cache the demo causal LM: a tiny Llama trained offline on the demo data.

:func:`demo_model_path` returns a Hugging Face model folder (safetensors, tokenizer with chat
template, ``generation_config.json`` whose eos is the end-of-turn token ``<|end|>``). The folder
lives under the cache root (``cache_dir``, else ``$SDRRL_CACHE``, else ``~/.cache/sdrrl_ray``) and
its name carries a hash of the builder version, the data files and the hyperparameters, so any
change builds a new one (:func:`sdrrl_ray.storage.cached_folder`: concurrent callers wait on a
file lock; the build goes to a temporary folder renamed into place once complete).

Command line: ``python -m sdrrl_ray.demo.build [CACHE_DIR]`` builds or reuses the model and
prints its path, build time and per-language script-correct rates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import sys
import time
from typing import Optional

from sdrrl_ray.demo import assets
from sdrrl_ray.demo.hparams import Hyperparameters
from sdrrl_ray.extras import TORCH, require
from sdrrl_ray.storage import cache_root, cached_folder, has_file

logger = logging.getLogger(__name__)

BUILDER_VERSION = "3"  # bump when a change of the build code changes the model
MODEL_PREFIX = "demo-lm-"
REPORT_FILE = "demo_build.json"  # written last: its presence marks a complete folder


def build_key(hp: Hyperparameters) -> str:
    """Hash of the builder version, the hyperparameters and every demo data file."""
    h = hashlib.sha256(f"{BUILDER_VERSION}\n{json.dumps(dataclasses.asdict(hp), sort_keys=True)}\n".encode())
    root = assets.demo_data_dir()
    for path in assets.data_files():
        h.update(os.path.relpath(path, root).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()[:16]


def demo_model_path(cache_dir: Optional[str] = None) -> str:
    """Folder of the demo LM, built on the first call (about 4 minutes of one core) and reused after."""
    hp = Hyperparameters()
    final = os.path.join(cache_root(cache_dir), MODEL_PREFIX + build_key(hp))

    def announced(tmp: str) -> dict:
        print(f"sdrrl: building the demo's tiny Llama and its tokenizer (once: about 2 minutes of one core; "
              f"cached in {final})", flush=True)
        return build_model(tmp, hp)

    return cached_folder(final, announced, complete=has_file(REPORT_FILE))[0]


def build_report(model_path: str) -> dict:
    """The report the build left in ``model_path``: times, hyperparameters, script-correct rates."""
    with open(os.path.join(model_path, REPORT_FILE), encoding="utf-8") as f:
        return json.load(f)


# every kana and Thai letter, alone: so that names the training texts never spell are still whole characters
SCRIPT_CHARS = [chr(c) for c in (*range(0x3041, 0x3097), *range(0x30A1, 0x30FD), *range(0x0E01, 0x0E3B),
                                 *range(0x0E40, 0x0E4F))]


def tokenizer_texts() -> list[str]:
    """The texts the demo tokenizer is trained on (corpus, instructions, parallel pairs, ja / th Q/A)."""
    from sdrrl_ray.demo import datagen

    with open(assets.corpus_path(), encoding="utf-8") as f:
        texts = [line.strip() for line in f if line.strip()]
    for rec in assets.read_instructions():
        texts += [rec["instruction"], rec["input"], rec["output"]]
    for lang in ("ja", "th"):
        texts += [side for pair in assets.read_parallel(lang) for side in pair]
    texts += [text for qa in datagen.target_qa_items() for text in qa[2:]]
    return [t for t in texts if t] + SCRIPT_CHARS


def build_model(folder: str, hp: Hyperparameters) -> dict:
    """Train the tokenizer and the model, save both into ``folder``, measure, write the report."""
    require("building the demo model", {"all": (TORCH,)})
    import torch

    from sdrrl_ray.demo import measure, train
    from sdrrl_ray.demo.tokenizer import train_tokenizer
    from sdrrl_ray.engines.hf import HFEngine

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(hp.threads)
    try:
        random.seed(hp.seed)
        torch.manual_seed(hp.seed)
        tokenizer = train_tokenizer(tokenizer_texts(), hp.vocab_size)
        examples = train.qa_examples(exclude=measure.HELD_OUT) + train.completion_examples()
        model = train.make_model(tokenizer, hp)
        logger.info("demo LM: %d examples, vocabulary %d, %d parameters, %d steps",
                    len(examples), len(tokenizer), model.num_parameters(), hp.steps)
        final_loss = train.train(model, tokenizer, examples, hp,
                                 log=lambda step, loss: logger.info("step %d loss %.3f", step, loss))
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        train_seconds = time.perf_counter() - start
        rates = measure.script_correct_rates(HFEngine(folder), measure.eval_prompts())
    finally:
        torch.set_num_threads(threads)
    report = {
        "builder_version": BUILDER_VERSION,
        "hyperparameters": dataclasses.asdict(hp),
        "examples": {lang: sum(ex.lang == lang for ex in examples) for lang in assets.DEMO_LANGUAGES},
        "parameters": model.num_parameters(),
        "vocab_size": len(tokenizer),
        "final_loss": round(final_loss, 4),
        "train_seconds": round(train_seconds, 1),
        "build_seconds": round(time.perf_counter() - start, 1),
        "script_correct": rates,
    }
    with open(os.path.join(folder, REPORT_FILE), "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=False, indent=1)
    return report


def main(argv: Optional[list[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    path = demo_model_path(argv[0] if argv else None)
    report = build_report(path)
    print(f"demo model: {path}")
    print(f"this call: {time.perf_counter() - start:.1f} s; build time: {report['build_seconds']} s "
          f"(training {report['train_seconds']} s, final loss {report['final_loss']})")
    for lang, result in report["script_correct"].items():
        print(f"  {lang}: {result['rate']:.2f} of {len(result['answers'])} answers in the prompt's script;"
              f" e.g. {result['answers'][:2]}")


if __name__ == "__main__":
    main()
