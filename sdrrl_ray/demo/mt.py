"""Build (once) and cache the demo translation models, trained offline on the demo parallel data.

- :func:`demo_nllb_path`: a tiny NLLB-style model: the M2M100 architecture with the FLORES-200
  language codes (``eng_Latn``, ``jpn_Jpan``, ``tha_Thai`` ...) as special tokens and
  ``transformers.NllbTokenizer`` (a BPE trained on the corpus), so it takes exactly the NLLB-200
  code path: tokenizer ``src_lang``, ``forced_bos_token_id`` / CTranslate2 ``target_prefix``.
  Trained on en->ja and en->th.
- :func:`demo_marian_path`: a tiny ``MarianMTModel`` for one pair (en->ja or en->th) with
  ``MarianTokenizer`` (``source.spm``, ``target.spm``, a joint ``vocab.json``; the pair is recorded
  as ``source_lang``/``target_lang`` in ``tokenizer_config.json``).

Both are Hugging Face folders (safetensors). They live under the same cache root as the demo LM
(:func:`sdrrl_ray.storage.cache_root`: ``$SDRRL_CACHE`` else ``~/.cache/sdrrl_ray``) in folders
named by a hash of the builder version, the hyperparameters and their training corpus; a build goes
to a temporary folder renamed into place when complete, under a file lock (concurrent actors and
test workers wait for one build). Each build takes one to two minutes of one core.

The training corpus is ``data/mt/en-<lang>.tsv`` (the "external MT system's" data: translations of
the instruction questions and answers, of the reading-comprehension sentences and of everyday
sentences; no evaluation text), not the parallel files SDRRL itself uses. Every 25th pair is held
out of training (:func:`heldout_pairs`) so that tests measure the models on sentences they never saw.

Command line: ``python -m sdrrl_ray.demo.mt`` builds (or reuses) all three and prints their paths
and held-out script-correct rates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import sys
import time
from typing import Callable, Optional

from sdrrl_ray import languages
from sdrrl_ray.demo import assets
from sdrrl_ray.errors import UserError
from sdrrl_ray.extras import CTRANSLATE2, SENTENCEPIECE, TORCH, require
from sdrrl_ray.storage import cache_root, cached_folder, has_file

logger = logging.getLogger(__name__)

BUILDER_VERSION = "3"  # bump when a change of the build code changes the models
REPORT_FILE = "demo_mt_build.json"  # written last: its presence marks a complete folder
NLLB_TARGETS = ("ja", "th")
MARIAN_PAIRS = (("en", "ja"), ("en", "th"))
HOLDOUT_EVERY = 25


@dataclasses.dataclass(frozen=True)
class MTHyperparameters:
    vocab_size: int = 3000  # BPE (NLLB-style) / unigram per side (Marian: upper bound)
    d_model: int = 128
    layers: int = 2  # encoder and decoder each
    heads: int = 4
    ffn_dim: int = 256
    max_positions: int = 256
    epochs: int = 6
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 30
    dropout: float = 0.1
    seed: int = 0
    threads: int = 1  # fixed, so that the CPU build is deterministic (and polite on shared cores)


NLLB_HP = MTHyperparameters()
MARIAN_HP = MTHyperparameters(vocab_size=1000, epochs=8)


def training_pairs(lang: str) -> list[tuple[str, str]]:
    """(English, ``lang``) pairs the demo models train on (all of the MT corpus but every 25th)."""
    return [p for k, p in enumerate(assets.read_mt(lang)) if k % HOLDOUT_EVERY]


def heldout_pairs(lang: str) -> list[tuple[str, str]]:
    """(English, ``lang``) pairs kept out of training, for measuring the models."""
    return [p for k, p in enumerate(assets.read_mt(lang)) if not k % HOLDOUT_EVERY]


def demo_nllb_path(cache_dir: Optional[str] = None) -> str:
    """Folder of the tiny NLLB-style model (en->ja, en->th), built on first use."""
    return _cached("demo-nllb-", _key("nllb", NLLB_HP, NLLB_TARGETS), lambda folder: _build_nllb(folder, NLLB_HP),
                   cache_dir)


def demo_marian_path(src: str = "en", tgt: str = "ja", cache_dir: Optional[str] = None) -> str:
    """Folder of the tiny Marian model for ``src`` -> ``tgt``, built on first use."""
    if (src, tgt) not in MARIAN_PAIRS:
        pairs = ", ".join(f"{a}-{b}" for a, b in MARIAN_PAIRS)
        raise UserError(
            f"there is no demo Marian model for {src}-{tgt} (demo pairs: {pairs}); "
            "use translate.model=demo:nllb or a Marian folder for that pair"
        )
    return _cached(
        f"demo-marian-{src}-{tgt}-",
        _key(f"marian-{src}-{tgt}", MARIAN_HP, (tgt,)),
        lambda folder: _build_marian(folder, MARIAN_HP, src, tgt),
        cache_dir,
    )


def build_report(model_path: str) -> dict:
    with open(os.path.join(model_path, REPORT_FILE), encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------------------------
# cache


def _key(kind: str, hp: MTHyperparameters, langs: tuple[str, ...]) -> str:
    h = hashlib.sha256(f"{BUILDER_VERSION}\n{kind}\n{json.dumps(dataclasses.asdict(hp), sort_keys=True)}\n".encode())
    for lang in langs:
        with open(assets.mt_path(lang), "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _cached(prefix: str, key: str, build: Callable[[str], dict], cache_dir: Optional[str]) -> str:
    def build_with_report(tmp: str) -> None:
        require("building the demo translation models", {"all": (TORCH, SENTENCEPIECE, CTRANSLATE2)})
        print(f"sdrrl: building the demo translation model {prefix.rstrip('-')} (once: about 2 minutes of one "
              f"core; cached in {cache_root(cache_dir)})", flush=True)
        report = build(tmp)
        with open(os.path.join(tmp, REPORT_FILE), "w", encoding="utf-8") as f:
            json.dump(report, f, ensure_ascii=False, indent=1)

    return cached_folder(os.path.join(cache_root(cache_dir), prefix + key), build_with_report,
                         complete=has_file(REPORT_FILE))[0]


# --------------------------------------------------------------------------------------------
# builds


def _build_nllb(folder: str, hp: MTHyperparameters) -> dict:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    start = time.perf_counter()
    data = {lang: training_pairs(lang) for lang in NLLB_TARGETS}
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=hp.vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], min_frequency=2, show_progress=False
    )
    bpe.train_from_iterator([side for lang in NLLB_TARGETS for pair in data[lang] for side in pair], trainer)
    bpe_model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in bpe_model["merges"]]
    tokenizer = NllbTokenizer(vocab=bpe_model["vocab"], merges=merges, src_lang="eng_Latn")

    examples = []
    for lang in NLLB_TARGETS:
        code = languages.get(lang).nllb
        for en, tgt in data[lang]:
            tokenizer.src_lang = "eng_Latn"
            src_ids = tokenizer(en)["input_ids"]
            tokenizer.src_lang = code  # target side: [code] tokens </s>, as NLLB's text_target
            examples.append((src_ids, tokenizer(tgt)["input_ids"]))
    tokenizer.src_lang = "eng_Latn"

    config = M2M100Config(
        vocab_size=len(tokenizer),
        d_model=hp.d_model,
        encoder_layers=hp.layers,
        decoder_layers=hp.layers,
        encoder_attention_heads=hp.heads,
        decoder_attention_heads=hp.heads,
        encoder_ffn_dim=hp.ffn_dim,
        decoder_ffn_dim=hp.ffn_dim,
        max_position_embeddings=hp.max_positions,
        dropout=hp.dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        scale_embedding=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,  # as NLLB-200: </s>, then the forced language code
        tokenizer_class="NllbTokenizer",
    )
    with _torch_threads(hp.threads):
        torch.manual_seed(hp.seed)
        model = M2M100ForConditionalGeneration(config)
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            decoder_start_token_id=tokenizer.eos_token_id,
        )
        final_loss = _train(model, examples, hp, pad_id=tokenizer.pad_token_id)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        train_seconds = time.perf_counter() - start
        rates = {
            lang: _script_rate_hf(folder, "en", lang, [en for en, _ in heldout_pairs(lang)]) for lang in NLLB_TARGETS
        }
    return _report("nllb", hp, model, len(tokenizer), len(examples), final_loss, train_seconds, start, rates)


def _build_marian(folder: str, hp: MTHyperparameters, src: str, tgt: str) -> dict:
    import sentencepiece as spm
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    start = time.perf_counter()
    pairs = training_pairs(tgt)
    # unigram models per side; the target side keeps its characters as written (no NFKC: "？" stays)
    for side, lines, norm in (("source", [p[0] for p in pairs], "nmt_nfkc"),
                              ("target", [p[1] for p in pairs], "identity")):
        prefix = os.path.join(folder, side)
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_prefix=prefix, vocab_size=hp.vocab_size, hard_vocab_limit=False,
            model_type="unigram", character_coverage=1.0, normalization_rule_name=norm,
            bos_id=-1, eos_id=-1, unk_id=0, num_threads=1, minloglevel=2, shuffle_input_sentence=False,
        )
        os.replace(prefix + ".model", prefix + ".spm")
        os.remove(prefix + ".vocab")
    vocab = {"</s>": 0, "<unk>": 1}
    for side in ("source", "target"):
        proc = spm.SentencePieceProcessor(model_file=os.path.join(folder, f"{side}.spm"))
        for i in range(proc.get_piece_size()):
            vocab.setdefault(proc.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)  # last, as in OPUS-MT models (CTranslate2 drops it)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    tokenizer = MarianTokenizer(
        os.path.join(folder, "source.spm"), os.path.join(folder, "target.spm"), os.path.join(folder, "vocab.json"),
        source_lang=src, target_lang=tgt,
    )
    examples = [(tokenizer(a)["input_ids"], tokenizer(text_target=b)["input_ids"]) for a, b in pairs]
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=hp.d_model,
        encoder_layers=hp.layers,
        decoder_layers=hp.layers,
        encoder_attention_heads=hp.heads,
        decoder_attention_heads=hp.heads,
        encoder_ffn_dim=hp.ffn_dim,
        decoder_ffn_dim=hp.ffn_dim,
        max_position_embeddings=hp.max_positions,
        dropout=hp.dropout,
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
    )
    with _torch_threads(hp.threads):
        torch.manual_seed(hp.seed)
        model = MarianMTModel(config)
        model.generation_config = GenerationConfig(
            eos_token_id=0, pad_token_id=pad, decoder_start_token_id=pad, bad_words_ids=[[pad]],
            forced_eos_token_id=0,
        )

        def zero_pad_row() -> None:
            # Marian decoders start from the <pad> embedding, which must stay zero (as in OPUS-MT
            # models; CTranslate2 starts from a zero vector). The tied output layer would train it.
            with torch.no_grad():
                model.get_input_embeddings().weight[pad].zero_()

        zero_pad_row()
        final_loss = _train(model, examples, hp, pad_id=pad, after_step=zero_pad_row)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        train_seconds = time.perf_counter() - start
        rates = {tgt: _script_rate_hf(folder, src, tgt, [en for en, _ in heldout_pairs(tgt)])}
    return _report(f"marian-{src}-{tgt}", hp, model, len(vocab), len(examples), final_loss, train_seconds, start, rates)


def _train(model, examples: list[tuple[list[int], list[int]]], hp: MTHyperparameters, pad_id: int,
           after_step: Optional[Callable[[], None]] = None) -> float:
    import torch

    rng = random.Random(hp.seed)
    order = list(range(len(examples)))
    steps_per_epoch = math.ceil(len(order) / hp.batch_size)
    total = steps_per_epoch * hp.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / hp.warmup_steps) * max(0.1, 1.0 - s / total)
    )
    model.train()
    loss_value = float("nan")
    for _ in range(hp.epochs):
        rng.shuffle(order)
        for k in range(0, len(order), hp.batch_size):
            batch = [examples[i] for i in order[k:k + hp.batch_size]]
            src_len = max(len(s) for s, _ in batch)
            tgt_len = max(len(t) for _, t in batch)
            ids = torch.full((len(batch), src_len), pad_id)
            mask = torch.zeros((len(batch), src_len), dtype=torch.long)
            labels = torch.full((len(batch), tgt_len), -100)
            for row, (s, t) in enumerate(batch):
                ids[row, : len(s)] = torch.tensor(s)
                mask[row, : len(s)] = 1
                labels[row, : len(t)] = torch.tensor(t)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if after_step:
                after_step()
            loss_value = float(loss.item())
    model.eval()
    logger.info("demo MT: %d steps, final loss %.3f", total, loss_value)
    return loss_value


def _script_rate_hf(folder: str, src: str, tgt: str, sentences: list[str]) -> dict:
    """Share of greedy translations of ``sentences`` whose letters are mostly in ``tgt``'s script."""
    from sdrrl_ray.mt.backends import BackendOptions, HFBackend

    backend = HFBackend(folder, BackendOptions(beam_size=1, max_decoding_length=64))
    outputs = backend.translate_batch(sentences, src, tgt)
    script = languages.get(tgt).script
    good = sum(languages.script_share(o, script) >= 0.5 for o in outputs)
    return {"rate": round(good / max(1, len(outputs)), 3), "n": len(outputs), "examples": outputs[:3]}


def _report(kind, hp, model, vocab_size, n_examples, final_loss, train_seconds, start, rates) -> dict:
    import ctranslate2
    import torch
    import transformers

    return {
        "kind": kind,
        "builder_version": BUILDER_VERSION,
        "hyperparameters": dataclasses.asdict(hp),
        "parameters": model.num_parameters(),
        "vocab_size": vocab_size,
        "examples": n_examples,
        "final_loss": round(final_loss, 4),
        "train_seconds": round(train_seconds, 1),
        "build_seconds": round(time.perf_counter() - start, 1),
        "heldout_script_correct": rates,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "ctranslate2": ctranslate2.__version__},
    }


class _torch_threads:
    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.saved)


def main(argv: Optional[list[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cache_dir = argv[0] if argv else None
    for name, get_path in (
        ("nllb", lambda: demo_nllb_path(cache_dir)),
        *((f"marian {a}-{b}", (lambda a=a, b=b: demo_marian_path(a, b, cache_dir))) for a, b in MARIAN_PAIRS),
    ):
        t0 = time.perf_counter()
        path = get_path()
        report = build_report(path)
        rates = {k: v["rate"] for k, v in report["heldout_script_correct"].items()}
        print(f"{name}: {path} (this call {time.perf_counter() - t0:.1f} s; build {report['build_seconds']} s; "
              f"final loss {report['final_loss']}; held-out script-correct {rates})")


if __name__ == "__main__":
    main()
