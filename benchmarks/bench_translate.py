"""Translation throughput: the CTranslate2 backend against the transformers backend, same model.

What it measures: segments/s and source characters/s of ``translate_batch`` (tokenisation, beam
search, decoding: the code path the translate stage runs) after one warm-up batch (the backends take
turns batch by batch, so that other load on shared cores hits them alike), on

- a Marian-base-sized model (d_model 512, 6+6 layers, 8 heads, FFN 2048, shared vocabulary of
  32,000: about 60M parameters), randomly initialised and built by this script (no training: the
  speed of a forward pass does not depend on the weights);
- the same English sentences for every backend (the demo parallel data, fixed order);
- the same beam size and batch size, and a fixed output length (min = max decoding length), so
  that a random model does the same amount of decoding work in both libraries;
- the same precision for the ratio: float32 in both; CTranslate2 int8 (its CPU default) is
  reported on its own line and is not part of the ratio.

On a GPU (both libraries see it: the backends pick the device themselves) the ratio is at float16 in both
(``ct2_over_hf_float16``) and the extra line is CTranslate2's int8_float16; ``benchmarks/gpu_bench.py --parts
translate`` runs it there (``--tag gpu``: ``translate_gpu.json``, which the planner's GPU rate for MT reads).

Run (CPU; pin the threads so both libraries get the same cores)::

    python benchmarks/bench_translate.py                      # defaults below
    python benchmarks/bench_translate.py --threads 2 --segments 128 --beam 4 --batch 32 --out-len 48

It prints a table and, last, one JSON line (threads, model size, beam, batch, output length,
versions, results, ``ct2_over_hf_float32``). ``--plot PATH`` also writes a PNG bar chart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def build_model(folder: str, vocab_size: int, seed: int = 0) -> int:
    """A random Marian-base-sized model with a real MarianTokenizer (spm trained on the demo data)."""
    import json as _json

    import sentencepiece as spm
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    from sdrrl_ray.demo.assets import read_parallel

    pairs = read_parallel("ja")
    for side, lines in (("source", [p[0] for p in pairs]), ("target", [p[1] for p in pairs])):
        prefix = os.path.join(folder, side)
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_prefix=prefix, vocab_size=1000, hard_vocab_limit=False,
            model_type="unigram", character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0, num_threads=1, minloglevel=2,
        )
        os.replace(prefix + ".model", prefix + ".spm")
    vocab = {"</s>": 0, "<unk>": 1}
    for side in ("source", "target"):
        proc = spm.SentencePieceProcessor(model_file=os.path.join(folder, f"{side}.spm"))
        for i in range(proc.get_piece_size()):
            vocab.setdefault(proc.id_to_piece(i), len(vocab))
    k = 0
    while len(vocab) < vocab_size - 1:  # fill up to a realistic output layer (OPUS-MT: ~60k)
        vocab.setdefault(f"▁x{k}", len(vocab))
        k += 1
    vocab["<pad>"] = len(vocab)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        _json.dump(vocab, f, ensure_ascii=False)
    tok = MarianTokenizer(os.path.join(folder, "source.spm"), os.path.join(folder, "target.spm"),
                          os.path.join(folder, "vocab.json"), source_lang="en", target_lang="ja")
    pad = vocab["<pad>"]
    torch.manual_seed(seed)
    model = MarianMTModel(MarianConfig(
        vocab_size=len(vocab), d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
        decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, max_position_embeddings=512,
        pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=None,
        scale_embedding=True, share_encoder_decoder_embeddings=True,
    ))
    with torch.no_grad():
        model.get_input_embeddings().weight[pad].zero_()
    model.generation_config = GenerationConfig(eos_token_id=0, pad_token_id=pad, decoder_start_token_id=pad,
                                               bad_words_ids=[[pad]])
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model.num_parameters()


def inputs(n: int) -> list[str]:
    from sdrrl_ray.demo.assets import read_instructions, read_parallel

    sents = [en for en, _ in read_parallel("ja")]
    sents += [r["output"] for r in read_instructions() if 20 <= len(r["output"]) <= 200]
    out = []
    while len(out) < n:
        out += sents
    return out[:n]


def measure(backends: dict, segments: list[str], batch: int, rounds: int) -> dict:
    """Seconds per backend; the backends take turns batch by batch, so a change of the machine's load
    (shared cores) hits all of them alike."""
    for backend in backends.values():
        backend.translate_batch(segments[:batch], "en", "ja")  # warm-up
    seconds = {name: 0.0 for name in backends}
    for _ in range(rounds):
        for k in range(0, len(segments), batch):  # the stage sends one batch of rows per call
            chunk = segments[k:k + batch]
            for name, backend in backends.items():
                start = time.perf_counter()
                out = backend.translate_batch(chunk, "en", "ja")
                seconds[name] += time.perf_counter() - start
                assert len(out) == len(chunk)
    n, chars = len(segments) * rounds, sum(len(s) for s in segments) * rounds
    return {name: {"seconds": round(t, 3), "segments_per_s": round(n / t, 3), "chars_per_s": round(chars / t, 1)}
            for name, t in seconds.items()}


def output_tokens(backend, segments: list[str]) -> float:
    """Mean generated tokens per segment (checks that both libraries did the same decoding work)."""
    import torch

    if backend.name == "ct2":
        tokens = [backend.tokenizer.convert_ids_to_tokens(ids) for ids in backend.tokenizer(segments)["input_ids"]]
        o = backend.options
        res = backend.translator.translate_batch(tokens, beam_size=o.beam_size,
                                                 max_decoding_length=o.max_decoding_length,
                                                 min_decoding_length=o.min_decoding_length)
        return sum(len(r.hypotheses[0]) for r in res) / len(res)
    enc = backend.tokenizer(segments, return_tensors="pt", padding=True).to(backend.device)
    with torch.inference_mode():
        o = backend.options
        gen = backend.model.generate(**enc, num_beams=o.beam_size, max_new_tokens=o.max_decoding_length,
                                     min_new_tokens=o.min_decoding_length)
    return float(gen.shape[1] - 1)  # minus the decoder start


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--segments", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--out-len", type=int, default=48, help="generated tokens per segment (min = max)")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--rounds", type=int, default=1, help="passes over the segments")
    ap.add_argument("--plot", default=None,
                    help="write the PNG bar chart here (default benchmarks/results/translate[_TAG].png)")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    ap.add_argument("--no-save", action="store_true", help="print only; write no result files")
    ap.add_argument("--keep", default=None, help="build the model in this folder and keep it")
    args = ap.parse_args(argv)

    import ctranslate2
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    load_start = os.getloadavg()
    work = args.keep or tempfile.mkdtemp(prefix="bench_translate.")
    os.makedirs(work, exist_ok=True)
    os.environ["SDRRL_CACHE"] = os.path.join(work, "cache")  # converted models go here
    model_dir = os.path.join(work, "marian-base-random")
    try:
        t0 = time.perf_counter()
        if not os.path.isfile(os.path.join(model_dir, "config.json")):
            os.makedirs(model_dir, exist_ok=True)
            params = build_model(model_dir, args.vocab)
        else:
            params = transformers.AutoModelForSeq2SeqLM.from_pretrained(model_dir).num_parameters()
        build_s = time.perf_counter() - t0

        from sdrrl_ray.mt.backends import BackendOptions, CT2Backend, HFBackend

        common = dict(beam_size=args.beam, max_decoding_length=args.out_len, min_decoding_length=args.out_len,
                      num_threads=args.threads, max_batch_size=args.batch, max_input_tokens=256)
        segments = inputs(args.segments)
        gpu = torch.cuda.is_available()
        if gpu and ctranslate2.get_cuda_device_count() == 0:
            raise SystemExit("torch sees a GPU but CTranslate2 does not (its wheel needs the CUDA 12 runtime and "
                             "cuBLAS 12): no GPU comparison is possible on this host")
        # the ratio compares one precision in both libraries: float32 on CPU, float16 on GPU; the int8 line is apart
        same, int8 = ("float16", "int8_float16") if gpu else ("float32", "int8")
        runs = [("hf", same, HFBackend), ("ct2", same, CT2Backend), ("ct2", int8, CT2Backend)]
        backends, results = {}, []
        for name, precision, cls in runs:
            t1 = time.perf_counter()
            backend = cls(model_dir, BackendOptions(compute_type=precision, **common))
            results.append(dict(backend=name, precision=precision, load_s=round(time.perf_counter() - t1, 1),
                                out_tokens_per_segment=round(output_tokens(backend, segments[:4]), 1)))
            backends[f"{name}-{precision}"] = backend
        timed = measure(backends, segments, args.batch, args.rounds)
        for r in results:
            r.update(timed[f"{r['backend']}-{r['precision']}"])
        hf32 = results[0]["segments_per_s"]
        ratio = results[1]["segments_per_s"] / hf32
        int8_ratio = results[2]["segments_per_s"] / hf32

        print(f"Marian-base-sized random model: {params / 1e6:.1f}M parameters, vocabulary {args.vocab}; "
              f"{len(segments)} segments, batch {args.batch}, beam {args.beam}, {args.out_len} output tokens, "
              f"{args.threads} threads; build {build_s:.0f} s")
        print(f"{'backend':<8}{'precision':<11}{'segments/s':>11}{'chars/s':>10}{'seconds':>9}"
              f"{'out tok':>9}{'load s':>8}")
        for r in results:
            print(f"{r['backend']:<8}{r['precision']:<11}{r['segments_per_s']:>11.2f}{r['chars_per_s']:>10.0f}"
                  f"{r['seconds']:>9.1f}{r['out_tokens_per_segment']:>9.1f}{r['load_s']:>8.1f}")
        print(f"ct2/hf at {same}: {ratio:.2f}x   (ct2 {int8} / hf {same}, different precisions: {int8_ratio:.2f}x)")
        busy = load_start[0] > (os.cpu_count() or 1)  # before this script added its own threads
        if busy:
            print(f"warning: load average {load_start[0]:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: "
                  "other processes competed for the cores; torch's threads suffer more from that than CTranslate2's, "
                  "so the ratio is not a clean measurement")

        from benchmarks.common import RESULTS, machine, save

        name = "translate" + (f"_{args.tag}" if args.tag else "")
        plot = args.plot or (None if args.no_save else os.path.join(RESULTS, f"{name}.png"))
        if plot:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(5, 3))
            ax.bar([f"{r['backend']}\n{r['precision']}" for r in results], [r["segments_per_s"] for r in results],
                   color=["#888", "#36c", "#9bd"])
            ax.set_ylabel("segments / s")
            ax.set_title(f"beam {args.beam}, batch {args.batch}, {args.threads} threads")
            fig.tight_layout()
            os.makedirs(os.path.dirname(os.path.abspath(plot)), exist_ok=True)
            fig.savefig(plot, dpi=120)

        summary = {
            "benchmark": "translate",
            "model": {"kind": "marian-base-random", "parameters": params, "d_model": 512, "layers": "6+6",
                      "vocab": args.vocab},
            "threads": args.threads,
            "segments": len(segments),
            "rounds": args.rounds,
            "load_average": {"start": load_start[0], "end": os.getloadavg()[0]},
            "source_chars": sum(len(s) for s in segments),
            "beam": args.beam,
            "batch_size": args.batch,
            "out_len": args.out_len,
            "results": results,
            "device": "cuda" if gpu else "cpu",
            f"ct2_over_hf_{same}": round(ratio, 3),
            f"ct2_{int8}_over_hf_{same}": round(int8_ratio, 3),
            "machine_busy": busy,
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "transformers": transformers.__version__, "ctranslate2": ctranslate2.__version__},
            "machine": {"cpu": _cpu_name(), **machine()},
        }
        if not args.no_save:
            save(name, summary)
        print(json.dumps(summary))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
