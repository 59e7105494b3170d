"""Evaluation suite: the paper's benchmarks, off-target rate, NER, representation alignment, contamination.

One module per task (``belebele``, ``flores``, ``xlsum``, ``mkqa``, ``ner``, ``offtarget``,
``alignment``), each reading the benchmark's released file layout from ``eval.data_dir/<task>/``
(local paths or fsspec URLs) and providing the same four functions:

``units(langs)``
    the (language, unit) pairs the task scores for the languages a model serves (FLORES has two
    directions per language, alignment one pair per language);
``load(data_dir, unit, ctx)``
    the items of one unit (``item_id`` plus the task's fields);
``requests(items, shots, unit, ctx)``
    inference requests (generate / loglik / hidden) for those items (``shots``: few-shot examples);
``score(items, preds, unit, ctx)``
    metrics (0-100) from the predictions, keyed by ``item_id``, and ``samples``: per metric, the
    per-item evidence (:class:`.stats.Sample`) behind it.

Inference runs as Ray Data actor-pool jobs (:mod:`.inference`) through the same engines as
generation; metric code lives in :mod:`.metrics`; :mod:`.report` writes ``OUT/report.json``,
``OUT/report.md`` and ``OUT/plots/``, with n, 95% intervals and paired tests against the baseline from
the per-item evidence each ``score`` returns (``samples``: :mod:`.stats`, :mod:`.significance`);
:func:`.run.run_eval` ties them together.
"""

from __future__ import annotations


def run_eval(cfg, score_only: bool = False) -> dict:  # lazy import: keeps `import sdrrl_ray.evaluation` light
    from sdrrl_ray.evaluation.run import run_eval as _run

    return _run(cfg, score_only=score_only)


__all__ = ["run_eval"]
