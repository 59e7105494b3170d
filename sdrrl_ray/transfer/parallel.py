"""The parallel-corpus part of a transfer-set run: ``mt`` (both directions) and ``comp`` rows for
every configured target, with a report per target for the manifest.

The corpora are small (``parallel.n_pairs`` per language, 1,000 in the paper), so the rows are
built on the driver and joined to the streaming plan; a pair whose sentence cannot be split for
completion becomes a reject row (stage ``parallel``, reason ``comp_too_short``).
"""

from __future__ import annotations

from sdrrl_ray.config import Config
from sdrrl_ray.parallel.corpus import read_parallel
from sdrrl_ray.parallel.tasks import make_tasks
from sdrrl_ray.schema import COMP
from sdrrl_ray.stages.assemble import pair_rows


def parallel_rows(cfg: Config, done: set) -> tuple[list[dict], dict]:
    """(rows not yet written, per-target report for the manifest)."""
    p = cfg.parallel
    rows: list[dict] = []
    report: dict = {}
    if not p.enabled or not any(t in cfg.transfer.subsets for t in p.tasks):
        return rows, report
    tasks = [t for t in p.tasks if t in cfg.transfer.subsets]
    src = cfg.languages.source
    for tgt in cfg.languages.targets:
        path = p.paths.get(tgt)
        if not path:
            report[tgt] = {"file": None, "pairs": 0, "note": f"no parallel.paths.{tgt}: no mt/comp rows for {tgt}"}
            continue
        corpus = read_parallel(path, src_iso=src, tgt_iso=tgt, n_pairs=p.n_pairs, seed=cfg.seed)
        made = make_tasks(corpus.pairs, src_iso=src, tgt_iso=tgt, seed=cfg.seed, tasks=tasks)
        with_comp = {r["item_id"] for r in made if r["subset"] == COMP}
        for r in made:
            r.update(status="ok", n_switched=0, switch_candidates=0, switch_dict="off")
        if COMP in tasks:
            for pair in corpus.pairs:
                item = f"par:{tgt}:{pair.index}"
                if item not in with_comp:
                    made.append(
                        dict(id=f"{item}:{COMP}", item_id=item, subset=COMP, src_lang=src, tgt_lang=tgt,
                             answer=pair.tgt, status="rejected", stage="parallel", reason="comp_too_short",
                             detail=f"{path}:{pair.index}: no word boundary to split the sentence at")
                    )
        for r, n in zip(made, pair_rows([r["item_id"] for r in made], [tgt] * len(made))):
            r["pair_rows"] = n
        rows.extend(r for r in made if (r["item_id"], tgt) not in done)
        report[tgt] = {
            "file": path,
            "layout": corpus.layout,
            "lines": corpus.n_lines,
            "bad_lines": [{"line": n, "reason": why} for n, why in corpus.bad[:20]],
            "n_bad_lines": len(corpus.bad),
            "pairs_valid": corpus.n_valid,
            "pairs_used": len(corpus.pairs),
            "tasks": tasks,
        }
    return rows, report
