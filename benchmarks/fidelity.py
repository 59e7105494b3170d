"""Does SDRRL do what it claims in the demo world? SFT-en, translate-then-SFT and SDRRL (and, with
``--ablations``, the paper's five ablations) through the real pipeline with ``sdrrl compare``.

Pre-registered before the first run (design, metrics, tests; not to be changed after seeing results):

- World: the demo (``jobs/configs/demo.yaml``: the project's tiny English-strong base model, English
  instruction set, disjoint parallel corpus, held-out evaluation items), one target: Japanese
  (``languages.targets=[ja]``), every evaluation item (no ``eval.limit``).
- Arms: ``sft-en``, ``translate-then-sft``, ``sdrrl`` with seeds 0, 1, 2; ``--ablations`` adds
  ``ablation-no-tl-lt``, ``ablation-gold-only``, ``ablation-no-parallel``, ``ablation-no-codeswitch``
  and ``ablation-only-parallel`` (``--ablation-seeds``, default 0 only: 3 seeds of all eight arms do not
  fit 60 minutes on 2 cores). The reference arm is ``sdrrl``.
- Metrics (each arm's mean over its seeds, 95% bootstrap interval over items):
  1. target-language accuracy: MKQA token F1, Japanese (the demo's exact-answer reading questions);
  2. English accuracy: MKQA token F1, English (the Japanese model);
  3. off-target rate: % of Japanese prompts answered in another language (lower is better);
  4. translation chrF++ EN->JA and 5. JA->EN (FLORES, the demo's sentences);
  6. representation retrieval: top-1 % of Japanese sentences whose nearest English sentence is their
     translation (mean-pooled last hidden layer).
  Changed once, before any arm was trained in the rebuilt world: metrics 1 and 2 were BELEBELE accuracy,
  but the rebuilt base model is at chance on BELEBELE in every language (24.4 / 23.8 / 23.8 % on 500
  items; the tiny model never learns to answer with the option letter), so it cannot tell arms apart;
  BELEBELE stays in the report.
- Tests: each metric, sdrrl against sft-en and against translate-then-sft, paired on the same items
  (bootstrap, seeds pooled per item); p-values raw and Holm-adjusted over those 12 comparisons; alpha 0.05.
  Expected if the method works as the paper says: sdrrl > sft-en on 1, 4, 5, 6 and < on 3; sdrrl >=
  translate-then-sft on 1; English accuracy (2) not lower than sft-en.
- Training: the demo config's (2 epochs, learning rate 5e-4, the first 500 instructions), the same for
  every arm; chosen before any arm was run.

Writes ``benchmarks/results/fidelity.json`` (every arm and seed, the tests, the command, the machine),
``fidelity.png`` and ``fidelity_report.md`` (the comparison report). Resumes: a rerun with the same
``--out`` keeps finished runs.

    python benchmarks/fidelity.py                       # the three arms x 3 seeds
    python benchmarks/fidelity.py --ablations           # + the five ablations (seed 0)
    python benchmarks/fidelity.py --tiny --out /tmp/f   # a quick check of the script itself (not a result)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import RESULTS, machine, save  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
PAPER_ARMS = ["sft-en", "translate-then-sft", "sdrrl"]
ABLATIONS = ["ablation-no-tl-lt", "ablation-gold-only", "ablation-no-parallel", "ablation-no-codeswitch",
             "ablation-only-parallel"]
REFERENCE = "sdrrl"
# (name, task, metric, side, higher is better)
METRICS = [
    ("target accuracy (MKQA F1 ja)", "mkqa", "f1", "target", True),
    ("English accuracy (MKQA F1 en)", "mkqa", "f1", "english", True),
    ("off-target rate (ja prompts)", "offtarget", "rate", "target", False),
    ("chrF++ EN->JA", "flores", "chrf++", "target", True),
    ("chrF++ JA->EN", "flores", "chrf++", "english", True),
    ("retrieval top-1 (ja->en)", "alignment", "top1", "target", True),
]
TASKS = "[mkqa,belebele,flores,offtarget,alignment]"
TINY = ["data.limit=24", "parallel.n_pairs=8", "train.epochs=1", "train.max_length=128", "eval.limit=6"]


def holm(pvalues: list) -> list:
    """Holm-Bonferroni adjusted p-values (None stays None)."""
    known = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    adjusted, running = [None] * len(pvalues), 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (len(known) - rank) * p))
        adjusted[i] = running
    return adjusted


def _table(report: dict, task: str, metric: str, side: str):
    return next((t for t in report["tables"] if (t["task"], t["metric"], t["side"]) == (task, metric, side)), None)


def extract(report: dict, arms: list) -> list[dict]:
    """Per metric and arm: mean over seeds, interval, n, the seeds' values, the test against the reference."""
    rows = []
    for name, task, metric, side, higher in METRICS:
        table = _table(report, task, metric, side)
        if table is None:
            continue
        seeds = {r["model"]: r for r in report["results"]
                 if (r["task"], r["metric"], r["side"]) == (task, metric, side) and r.get("column") in ("ja", None)}
        for row in table["rows"]:
            if row["model"] not in ["base", *arms]:
                continue
            rows.append({"metric": name, "task": task, "key": metric, "side": side, "higher_is_better": higher,
                         "arm": row["model"], "value": row["values"].get("ja"), "n": row["n"].get("ja"),
                         "ci_low": row["ci_low"].get("ja"), "ci_high": row["ci_high"].get("ja"),
                         "seed_values": seeds.get(row["model"], {}).get("seed_values"),
                         "seed_sd": seeds.get(row["model"], {}).get("seed_sd")})
    return rows


def paired_tests(rep: dict, arms: list) -> list[dict]:
    """sdrrl against sft-en and translate-then-sft on every metric (paired on items, seeds pooled), Holm-adjusted.

    The comparison report's tests are against the reference arm, so each row there is already the paired
    test of (that arm - sdrrl); the sign is flipped to read as sdrrl - other."""
    tests = []
    for name, task, metric, side, higher in METRICS:
        table = _table(rep, task, metric, side)
        if table is None:
            continue
        rows = {r["model"]: r for r in table["rows"]}
        for other in ("sft-en", "translate-then-sft"):
            if other not in rows or other not in arms or REFERENCE not in rows:
                continue
            d = rows[other]["delta"].get("ja")
            tests.append({"metric": name, "comparison": f"{REFERENCE} - {other}",
                          "difference": None if d is None else -d, "p_value": rows[other]["p_value"].get("ja"),
                          "test": "paired bootstrap over items (seeds pooled per item)"})
    for t, adj in zip(tests, holm([t["p_value"] for t in tests])):
        t["p_holm"] = adj
        t["significant"] = adj is not None and adj < 0.05
    return tests


def plot(path: str, rows: list[dict], arms: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m[0] for m in METRICS if any(r["metric"] == m[0] for r in rows)]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    order = ["base", *arms]
    colors = {"base": "#999999", "sft-en": "#ed7d31", "translate-then-sft": "#70ad47", "sdrrl": "#4472c4"}
    for ax, name in zip(axes.ravel(), names):
        got = {r["arm"]: r for r in rows if r["metric"] == name}
        labels = [a for a in order if a in got and got[a]["value"] is not None]
        vals = [got[a]["value"] for a in labels]
        err = [[v - (got[a]["ci_low"] if got[a]["ci_low"] is not None else v) for a, v in zip(labels, vals)],
               [(got[a]["ci_high"] if got[a]["ci_high"] is not None else v) - v for a, v in zip(labels, vals)]]
        ax.bar(range(len(labels)), vals, yerr=err, capsize=3, color=[colors.get(a, "#ffc000") for a in labels])
        ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right", fontsize=7)
        n = next((got[a]["n"] for a in labels if got[a]["n"]), None)
        better = "higher" if next(m[4] for m in METRICS if m[0] == name) else "lower"
        ax.set_title(f"{name} ({better} is better)\nn={n} items; bars: mean over seeds, 95% CI", fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle("Demo world, target ja: SFT-en vs translate-then-SFT vs SDRRL (benchmarks/fidelity.py)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def compare(out: str, arms: list, seeds: list, extra: list) -> tuple[dict, dict]:
    """Run (or finish) ``sdrrl compare`` into ``out``; return its report and compare.json."""
    cmd = [sys.executable, "-m", "sdrrl_ray", "compare", DEMO, f"out_dir={out}", "languages.targets=[ja]",
           f"eval.tasks={TASKS}", f"arms=[{','.join(arms)}]", f"seeds=[{','.join(map(str, seeds))}]",
           f"reference={REFERENCE}", *extra]
    subprocess.run(cmd, check=True)
    with open(os.path.join(out, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    with open(os.path.join(out, "compare.json"), encoding="utf-8") as fh:
        return report, json.load(fh)


def summary(report: dict, state: dict, arms: list, seeds: list) -> dict:
    return {"arms": arms, "seeds": seeds, "reference": REFERENCE, "metrics": extract(report, arms),
            "tests": paired_tests(report, arms),
            "runs": {k: {f: v[f] for f in ("arm", "seed", "seconds", "added", "transfer_set")}
                     for k, v in state["runs"].items()},
            "shared": state.get("shared"), "aggregates": report.get("aggregates")}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "fidelity"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--ablations", action="store_true")
    ap.add_argument("--ablation-seeds", default="0")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: checks the script, gives no result")
    ap.add_argument("--name", default="fidelity")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = TINY if args.tiny else []
    os.makedirs(RESULTS, exist_ok=True)
    started = time.perf_counter()
    report, state = compare(args.out, PAPER_ARMS, seeds, extra)
    result = {"machine": machine(), "design": __doc__, "tiny": args.tiny,
              "paper_arms": summary(report, state, PAPER_ARMS, seeds)}
    shutil.copyfile(os.path.join(args.out, "report.md"), os.path.join(RESULTS, f"{args.name}_report.md"))
    plot(os.path.join(RESULTS, f"{args.name}.png"), result["paper_arms"]["metrics"], PAPER_ARMS)
    if args.ablations:  # the same OUT: the paper arms' runs on these seeds are kept, not rerun
        ab_seeds = [int(s) for s in args.ablation_seeds.split(",")]
        arms = PAPER_ARMS + ABLATIONS
        report, state = compare(args.out, arms, ab_seeds, extra)
        result["ablations"] = summary(report, state, arms, ab_seeds)
        shutil.copyfile(os.path.join(args.out, "report.md"), os.path.join(RESULTS, f"{args.name}_ablations_report.md"))
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    path = save(args.name, result)
    for part in ("paper_arms", "ablations"):
        for r in result.get(part, {}).get("metrics", []):
            value = None if r["value"] is None else round(r["value"], 2)
            print(f"{part:10s} {r['metric']:32s} {r['arm']:24s} {value!s:>8} "
                  f"[{r['ci_low']}, {r['ci_high']}] n={r['n']}")
    tests = result["paper_arms"]["tests"]
    for t in tests:
        print(f"{t['metric']:34s} {t['comparison']:30s} d={t['difference']} p={t['p_value']} p_holm={t['p_holm']}")
    print(f"results: {path}")
    print(json.dumps({"name": args.name, "wall_seconds": result["wall_seconds"], "seeds": seeds,
                      "tests": [[t["metric"], t["comparison"], t["difference"], t["p_holm"]] for t in tests]}))
    return result


if __name__ == "__main__":
    main()
