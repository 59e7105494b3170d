"""One script for a lent GPU (H100 / H200): generation (hf engine, Ray Data stage vs plain loop) and
ZeRO-3 training tokens/s + MFU of a random-init ~1B Llama; as a part of its own (``--parts translate``, with
the wheels of ``PART=translate benchmarks/gpu/wheels.sh``), CTranslate2 vs transformers translation.
``--cpu --tiny`` runs the same parts on a CPU in seconds (tested in CI, so the script cannot rot).

Each part runs as its own process (``bench_generate.py``, ``gpu_train.py``) under a time limit, so
one part failing or running out of memory leaves the other's numbers; the parts' result files go
to ``--out`` (default ``benchmarks/results``), and a summary table and a last-line JSON close the run.

The GPU host has torch and transformers but no network: Ray and DeepSpeed travel as wheels made by
``benchmarks/gpu/wheels.sh`` (about 51 MiB: Ray without its Java jar, DeepSpeed built from its
sdist, pydantic, jsonschema and a few small packages). ``benchmarks/gpu/run.sh`` installs them and
runs this script; see benchmarks/README.md ("GPU host").

    python benchmarks/gpu_bench.py                    # ~1B Llama, both parts, ~4 minutes on an H100
    python benchmarks/gpu_bench.py --parts train --train-args "--micro 4"
    python benchmarks/gpu_bench.py --parts translate  # CTranslate2 vs transformers MT (its own wheels)
    python benchmarks/gpu_bench.py --cpu --tiny       # smoke mode on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="run on the CPU (smoke mode; pair with --tiny)")
    ap.add_argument("--tiny", action="store_true", help="tiny models, few rows and steps")
    ap.add_argument("--parts", default="generate,train")
    ap.add_argument("--out", default=None, help="folder for result files (default benchmarks/results)")
    ap.add_argument("--gen-args", default="", help="extra arguments for bench_generate.py")
    ap.add_argument("--train-args", default="", help="extra arguments for gpu_train.py")
    ap.add_argument("--train-fallback", default="--micro 4 --activation-checkpointing",
                    help="gpu_train.py arguments for one retry when the first training run fails (e.g. out of memory)")
    ap.add_argument("--train-variants", default="--zero-stage 2",
                    help="';'-separated gpu_train.py argument sets run after the ZeRO-3 run, "
                         "for comparison ('' for none)")
    ap.add_argument("--part-timeout", type=int, default=240, help="seconds per part")
    return ap.parse_args(argv)


def last_json(text: str):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def run_part(name: str, cmd: list[str], env: dict, timeout: int, out: str) -> dict:
    print(f"== {name}: {shlex.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        rc, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        rc, stdout, stderr = "timeout", e.stdout or "", e.stderr or ""
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
        stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
    wall = time.perf_counter() - t0
    with open(os.path.join(out, f"{name}.log"), "w") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n")
    tail = "\n".join((stdout + stderr).strip().splitlines()[-15:])
    print(stdout if rc == 0 else tail, flush=True)
    return {"part": name, "rc": rc, "wall_s": round(wall, 1), "result": last_json(stdout) if rc == 0 else None}


def main(argv=None) -> dict:
    args = parse(argv)
    out = os.path.abspath(args.out or os.path.join(HERE, "results"))
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, SDRRL_BENCH_RESULTS=out, PYTHONUNBUFFERED="1", RAY_AUTH_MODE="disabled",
               PYTHONPATH=os.pathsep.join(p for p in [ROOT, os.environ.get("PYTHONPATH", "")] if p))
    if args.cpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    py = sys.executable
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    runs = []
    if "generate" in parts:
        gen = (["--model", "random:tiny", "--rows", "24", "--batch-sizes", "8", "--max-new-tokens", "8",
                "--num-cpus", "2"]
               if args.tiny else
               ["--model", "random:1b", "--batches", "16", "--batch-sizes", "32,128", "--max-new-tokens", "32",
                "--direct-repeat"])
        gen += ["--engine", "hf", "--actors", "1", "--tag", "cpu_tiny" if args.tiny else "gpu"]
        runs.append(run_part("generate",
                             [py, os.path.join(HERE, "bench_generate.py"), *gen, *shlex.split(args.gen_args)],
                             env, args.part_timeout, out))
    if "translate" in parts:  # its own transfer: the CTranslate2 wheel does not fit beside Ray's (gpu/wheels.sh)
        mt = (["--segments", "8", "--batch", "4", "--beam", "2", "--out-len", "4", "--vocab", "2000"]
              if args.tiny else
              ["--segments", "1024", "--batch", "64", "--beam", "4", "--out-len", "48", "--threads", "8"])
        mt += ["--tag", "cpu_tiny" if args.tiny else "gpu"]
        runs.append(run_part("translate", [py, os.path.join(HERE, "bench_translate.py"), *mt], env, args.part_timeout,
                             out))
    if "train" in parts:
        train = (["--cpu"] if args.cpu else []) + (["--tiny"] if args.tiny else []) + shlex.split(args.train_args)
        runs.append(run_part("train", [py, os.path.join(HERE, "gpu_train.py"), *train], env, args.part_timeout, out))
        if runs[-1]["rc"] not in (0, "timeout") and args.train_fallback and not args.tiny:
            runs.append(run_part("train_fallback",
                                 [py, os.path.join(HERE, "gpu_train.py"), *train, *shlex.split(args.train_fallback)],
                                 env, args.part_timeout, out))
        for i, variant in enumerate(v for v in args.train_variants.split(";") if v.strip()):
            runs.append(run_part(f"train_variant{i + 1}",
                                 [py, os.path.join(HERE, "gpu_train.py"), *train, *shlex.split(variant), "--no-save"],
                                 env, args.part_timeout, out))

    rows = []
    for r in runs:
        res = r["result"] or {}
        if r["part"] == "generate":
            for x in res.get("results", []):
                rows.append({"part": "generate",
                             "what": f"{x['side']} bs{x['batch_size']}" + (f" x{x['actors']}" if x["actors"] else ""),
                             "rows_per_s": x["rows_per_s"], "tokens_per_s": x["tokens_per_s"],
                             "ratio": x.get("ratio_vs_direct", "")})
        elif r["part"] == "translate" and res:
            for x in res["results"]:
                rows.append({"part": "translate", "what": f"{x['backend']} {x['precision']} beam {res['beam']}",
                             "rows_per_s": x["segments_per_s"],
                             "tokens_per_s": round(x["segments_per_s"] * x["out_tokens_per_segment"], 1)})
        elif res:  # train or train_fallback
            rows.append({"part": "train",
                         "what": f"ZeRO-{res['zero_stage']} {res['precision']} {res['params'] / 1e6:.0f}M "
                                 f"seq {res['seq']} micro {res['micro']}",
                         "tokens_per_s": res["tokens_per_s_per_gpu"], "mfu": res["mfu"],
                         "mem_gib": res["max_memory_gib"]})
        if r["rc"] != 0:
            rows.append({"part": r["part"], "what": f"FAILED rc={r['rc']} after {r['wall_s']} s (see {r['part']}.log)"})
    from benchmarks.common import machine, table

    print(table(rows, ["part", "what", "rows_per_s", "tokens_per_s", "ratio", "mfu", "mem_gib"]))
    main_parts = [r for r in runs if r["part"] in ("generate", "translate", "train", "train_fallback")]
    ok = all(r["rc"] == 0 for r in main_parts if r["part"] in ("generate", "translate")) and (
        "train" not in parts or any(r["rc"] == 0 for r in main_parts if r["part"].startswith("train")))
    summary = {"benchmark": "gpu", "ok": ok, "parts": runs, "machine": machine()}
    with open(os.path.join(out, "gpu_summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    print(json.dumps({k: summary[k] for k in ("benchmark", "ok")}
                     | {"parts": [{k: r[k] for k in ("part", "rc", "wall_s")} for r in runs]}))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
