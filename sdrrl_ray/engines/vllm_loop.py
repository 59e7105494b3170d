"""One vLLM engine fed by several threads at once, so continuous batching never starves between batches.

``vllm.LLM.generate`` adds a batch's requests and steps the engine until all of them finish: the engine runs
the batch's last, longest answers alone, then idles until the next batch arrives. When the generation stage
gets several Ray Data batches at once (``generate.batches_in_flight`` > 1: the actor runs that many calls in
threads), each call adds its requests to one shared engine and waits for its own; one background thread steps
the engine while any request is unfinished, so a new batch's requests join the running ones at the next step.
The engine is only touched under one lock (vLLM's engine is not thread-safe); requests and results are the
same as ``LLM.generate``'s (the same prompts, ``SamplingParams`` and per-request seeds; final outputs only).

The loop's thread also builds the engine (``make_llm``), so every torch operation of the process (model load,
warm-up, every step) runs on that one thread. On CPU, torch's OpenMP keeps a team of worker threads per calling
thread: with the model loaded on the actor's thread and stepped on another, two teams shared the 2 cores of a
Ray actor, the loop thread ran at ~80% and its OpenMP worker at ~40% of a core, and 1,024 prompts took 20.2 s
of engine steps; with one team, 16.4 s (``docs/vllm-engine.md``).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Callable


class EngineLoop:
    """``EngineLoop(make_llm)``: ``make_llm()`` builds the ``vllm.LLM`` on the loop's thread; ``self.llm`` once
    the constructor returns (an error building it is raised here)."""

    def __init__(self, make_llm: Callable[[], Any]):
        self.cond = threading.Condition()  # guards the engine and ``waiting``
        self.waiting: dict[str, list] = {}  # request id -> [done event, final output]
        self.error: BaseException | None = None
        self.ids = itertools.count()
        self.llm: Any = None
        built = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(make_llm, built), name="sdrrl-vllm-loop", daemon=True)
        self.thread.start()
        built.wait()
        if self.llm is None:
            raise self.error  # type: ignore[misc]

    def run(self, requests: list[tuple[dict, Any]]) -> list[Any]:
        """Final ``RequestOutput`` per (prompt, params), in order; blocks this thread only."""
        from vllm.sampling_params import RequestOutputKind

        slots = []
        with self.cond:
            self._raise_if_failed()
            for prompt, params in requests:
                params.output_kind = RequestOutputKind.FINAL_ONLY
                rid = f"sdrrl-{next(self.ids)}"
                slot = [threading.Event(), None]
                self.waiting[rid] = slot
                self.engine.add_request(rid, prompt, params)
                slots.append(slot)
            self.cond.notify()
        for slot in slots:
            slot[0].wait()
        with self.cond:
            self._raise_if_failed()
        return [slot[1] for slot in slots]

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the vLLM engine stopped: {self.error!r}") from self.error

    def _run(self, make_llm: Callable[[], Any], built: threading.Event) -> None:
        try:
            llm = make_llm()
            self.engine = llm.llm_engine
            self.llm = llm
        except BaseException as exc:  # the constructor raises it
            self.error = exc
            return
        finally:
            built.set()
        while True:
            with self.cond:
                while not self.waiting:
                    self.cond.wait()
                try:
                    outputs = self.engine.step()
                except BaseException as exc:  # every waiting call raises it
                    self.error = exc
                    for slot in self.waiting.values():
                        slot[0].set()
                    self.waiting.clear()
                    return
                for out in outputs:
                    if out.finished:
                        slot = self.waiting.pop(out.request_id, None)
                        if slot is not None:
                            slot[1] = out
                            slot[0].set()
