"""Evaluation items and output tokens per task: items counted in the files the eval phase will read
(``eval.data_dir``, else the demo's own), capped by ``eval.limit`` as the phase caps them; the public
test-set sizes where a task's file cannot be read here (not downloaded yet, or on storage this machine
cannot reach). Output tokens per item: with a tokenizer, the length of the item's reference (FLORES
translation, XL-Sum summary, first MKQA answer, the NER entity list) and, for prompts without one
(off-target), the instruction set's mean gold answer, each plus an end token and capped at the request's
``max_new_tokens``; without a tokenizer, or where the files are not readable, ``max_new_tokens`` (an upper
bound)."""

from __future__ import annotations

from sdrrl_ray import languages as langs
from sdrrl_ray.config import Config

# eval items per task and language when the files are not readable here (the public test sets' sizes)
EVAL_ITEMS = {"belebele": 900, "flores": 1012, "xlsum": 1000, "mkqa": 10000, "ner": 10000, "offtarget": 1012,
              "alignment": 1012}


def supports(iso: str, task: str) -> bool:
    try:
        langs.check_supported(iso, f"eval:{task}")
        return True
    except langs.UnsupportedLanguage:
        return False


def _ner_answer(item: dict) -> str:
    from sdrrl_ray.evaluation.ner import format_entities, gold_entities

    return format_entities(gold_entities(item))


# the reference text of an item, where a task has one: what a good answer's length follows
REFERENCE = {"flores": lambda it: it["reference"], "xlsum": lambda it: it["summary"],
             "mkqa": lambda it: (list(it["answers"]) or [""])[0], "ner": _ner_answer}


class EvalItems:
    """``items(task, targets)``: evaluated items of ``task`` for a model serving ``targets`` (every unit:
    each target, English, both directions for FLORES). ``counted`` / ``assumed``: tasks counted in files /
    taken at public sizes."""

    def __init__(self, cfg: Config, tok=None, open_tokens=None):
        from sdrrl_ray.assets import demo_eval_data_dir
        from sdrrl_ray.evaluation.common import ENGLISH, Context

        self.cfg, self.tok, self.open_tokens = cfg, tok, open_tokens
        self.data_dir = cfg.eval.data_dir or demo_eval_data_dir()
        self.ctx = Context(eval=cfg.eval, seed=cfg.seed, langid_min_share=cfg.filter.langid_min_share,
                           languages=tuple(dict.fromkeys([*cfg.languages.targets, ENGLISH])))
        self._n: dict = {}
        self.counted: set = set()
        self.assumed: set = set()
        self.upper: set = set()  # tasks whose answers are counted at max_new_tokens (reference not readable here)

    def items(self, task: str, targets: list) -> float:
        from sdrrl_ray.evaluation.tasks import TASKS

        return float(sum(self._unit(task, unit)[0] for unit in TASKS[task].units(targets)))

    def tokens(self, task: str, targets: list) -> float:
        """Expected output tokens of ``task`` for a model serving ``targets``."""
        from sdrrl_ray.evaluation.tasks import TASKS

        return float(sum(self._unit(task, unit)[1] for unit in TASKS[task].units(targets)))

    def _unit(self, task: str, unit) -> tuple:
        key = (task, unit.name)
        if key not in self._n:
            self._n[key] = self._count(task, unit)
        return self._n[key]

    def _count(self, task: str, unit) -> tuple:
        """(items, expected output tokens) of one unit."""
        from sdrrl_ray.evaluation import common
        from sdrrl_ray.evaluation.tasks import NO_SHOTS, TASKS

        limit, cap = self.cfg.eval.limit, self.ctx.max_new_tokens(task, self.cfg.eval.max_new_tokens)
        try:
            items = TASKS[task].load(self.data_dir, unit, self.ctx)
        except Exception:  # noqa: BLE001 - a file not readable here: the public size stands in
            self.assumed.add(task)
            if not supports(unit.lang, task):
                return 0, 0.0
            n = min(limit, EVAL_ITEMS[task]) if limit else EVAL_ITEMS[task]
            return n, float(n * cap)
        self.counted.add(task)
        usable = [it for it in items if not it.get("skip")]
        shots, scored = common.take(usable, 0 if task in NO_SHOTS else self.cfg.eval.shots, limit)
        try:
            caps = [int(r["max_new_tokens"]) for r in TASKS[task].requests(scored, shots, unit, self.ctx)
                    if r.get("kind") == "generate"]
        except ImportError:  # the task's own extras (e.g. seqeval) are not installed where the plan runs
            caps = [cap] * len(scored)
        if self.tok is None or not caps:
            return len(scored), float(sum(caps))
        lengths = [(self.open_tokens or cap) + 1] * len(caps)
        if task in REFERENCE:
            from sdrrl_ray.planner.tokens import count

            try:
                lengths = count(self.tok, [REFERENCE[task](it) for it in scored]) + 1
            except ImportError:
                self.upper.add(task)
                lengths = caps
        return len(scored), float(sum(min(c, n) for c, n in zip(caps, lengths)))

    def source(self) -> str:
        parts = []
        if self.counted:
            parts.append(f"counted in {self.data_dir} ({', '.join(sorted(self.counted))})")
        if self.assumed:
            parts.append(f"public test-set sizes ({', '.join(sorted(self.assumed))}: files not readable here)")
        how = ("output tokens: reference lengths, the instruction set's mean gold answer for prompts without one "
               f"({self.open_tokens:.1f} tokens), capped at max_new_tokens" if self.tok is not None and self.open_tokens
               else "output tokens: max_new_tokens (upper bound)")
        if self.upper:
            how += f"; {', '.join(sorted(self.upper))} at max_new_tokens (its extra is not installed here)"
        return "; ".join(parts + [how]) if parts else "no generative task"
