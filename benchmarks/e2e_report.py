"""bench_e2e.py, the report: the PNG (phases, the transfer-set split, operator spans, scaling),
the printed tables and the last-line JSON."""

from __future__ import annotations

import json
import os


def op_label(name: str) -> str:
    return name.replace("MapBatches(", "").replace(")", "").replace("ReadReadInstructions", "read")[:40]


def plot(path: str, split: dict | None, runs: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in runs if "items_per_s" in r]
    panels = (3 if split else 0) + (1 if ok else 0)
    if not panels:
        return
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.2), squeeze=False,
                             gridspec_kw={"width_ratios": ([0.6, 0.6, 1.4] if split else []) + ([1.0] if ok else [])})
    axes = list(axes[0])
    colors = ["#4472c4", "#ed7d31", "#a5a5a5", "#ffc000", "#5b9bd5", "#70ad47"]
    if split:
        ts = split["detail"].get("transfer-set")
        bars = [("demo, by phase", [(s["stage"], s["seconds"]) for s in split["stages"]])]
        if ts:
            bars.append(("transfer-set phase", [("outside execution", ts["outside_execution_s"]),
                                                ("exec start-up", ts["startup_s"] or 0.0),
                                                ("exec steady", ts["steady_s"] or 0.0)]))
        for label, parts in bars:
            ax = axes.pop(0)
            bottom, total = 0.0, sum(p[1] for p in parts)
            for i, (name, sec) in enumerate(parts):
                ax.bar(0, sec, bottom=bottom, color=colors[i % len(colors)], width=0.6)
                if sec > 0.04 * total:
                    ax.text(0, bottom + sec / 2, f"{name} {sec:.1f}s", ha="center", va="center", fontsize=7)
                bottom += sec
            ax.set_xticks([])
            ax.set_ylabel("seconds")
            ax.set_title(f"{label}: {total:.0f} s", fontsize=9)
        if not ts:
            axes.pop(0).axis("off")
        ax = axes.pop(0)
        ops = [o for o in (ts or {}).get("operators", []) if o.get("start_s") is not None]
        for i, o in enumerate(ops):
            ax.barh(i, max(o["end_s"] - o["start_s"], 0.01), left=o["start_s"], color="#4472c4")
            ax.text(o["end_s"], i, f" busy {o['task_wall_s']:.1f}s", va="center", fontsize=7)
        if ts:
            ax.axvline(ts["execution_s"], color="k", lw=0.8, ls="--")
            if ts["startup_s"]:
                ax.axvspan(0, ts["startup_s"], color="#dddddd", zorder=0)
                ax.text(ts["startup_s"] / 2, len(ops) - 0.5, "start-up:\nactors, models", ha="center", fontsize=7)
            ax.set_xlim(left=0)
        ax.set_yticks(range(len(ops)), [op_label(o["name"]) for o in ops], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("seconds since execution start")
        ax.set_title("transfer set: Ray Data operators, first to last task", fontsize=9)
    if ok:
        ax = axes.pop(0)
        labels = [f"{r['setup']} {r['nodes']}n x{r['actors']}" + (f" r{r['repeat']}" if r["repeat"] else "")
                  for r in ok]
        xs = range(len(ok))
        ax.bar([x - 0.2 for x in xs], [r["items_per_s"] for r in ok], width=0.4, label="items/s (execution)",
               color="#4472c4")
        ax.bar([x + 0.2 for x in xs], [r["steady_items_per_s"] or 0 for r in ok], width=0.4, label="items/s (steady)",
               color="#ed7d31")
        ax.set_xticks(list(xs), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("input items/s")
        ax.legend(fontsize=7)
        blocks = ok[0].get("target_block_kib")
        ax.set_title(f"transfer-set scaling, {os.cpu_count()} shared cores"
                     + (f", blocks <= {blocks:g} KiB" if blocks else ""), fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_tables(split: dict | None, runs: list[dict]) -> None:
    from benchmarks.common import table

    if split:
        print(table([*split["stages"], {"stage": "sum", "seconds": split["stages_sum_s"]},
                     {"stage": "total (measured)", "seconds": split["total_s"]}], ["stage", "seconds"]))
        ts = split["detail"].get("transfer-set")
        if ts:
            print()
            print(table([{"part": k, "seconds": ts[k]} for k in ("phase_s", "outside_execution_s", "execution_s",
                                                                  "startup_s", "steady_s")], ["part", "seconds"]))
            print()
            print(table(ts["operators"], ["name", "tasks", "nodes", "start_s", "end_s", "span_s", "task_wall_s",
                                          "task_cpu_s", "rows_out"]))
    for phase in ("train", "eval"):
        if split and phase in split["detail"]:
            print(f"\n{phase}: {json.dumps(split['detail'][phase])}")
    if runs:
        print()
        print(table([{**r, "skipped": (r.get("skipped") or r.get("error") or "")[:60]} for r in runs],
                    ["setup", "nodes", "node_cpus", "cpus", "actors", "gen_actors", "mt_actors", "actor_nodes",
                     "repeat", "gen_tasks", "mt_tasks", "gen_concurrency", "mt_concurrency",
                     "execution_s", "startup_s", "steady_s",
                     "items_per_s", "rows_out_per_s", "steady_items_per_s", "skipped"]))


def last_line(name: str, split: dict | None, runs: list[dict]) -> dict:
    """The last-line JSON: phase seconds, the transfer-set split and one short record per scaling run."""
    last = {"benchmark": name}
    if split:
        last["stages"] = {s["stage"]: s["seconds"] for s in split["stages"]}
        last["total_s"] = split["total_s"]
        ts = split["detail"].get("transfer-set")
        if ts:
            last["transfer_set"] = {k: ts[k] for k in ("execution_s", "startup_s", "steady_s")}
    keys = ("setup", "nodes", "actors", "gen_actors", "mt_actors", "actor_nodes", "gen_tasks", "mt_tasks",
            "mt_concurrency", "execution_s", "items_per_s",
            "rows_out_per_s", "steady_items_per_s", "skipped", "error")
    last["scaling"] = [{k: r.get(k) for k in keys if r.get(k) is not None}
                       for r in runs]
    return last
