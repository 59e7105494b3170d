"""generate.batches_in_flight: the vLLM generation actor takes several batches at once, in threads."""

from __future__ import annotations

import pytest

from sdrrl_ray.config import ActorPoolConfig


def test_actor_pool_runs_calls_in_threads_only_when_asked():
    from sdrrl_ray.runtime import actor_pool_args

    pool = ActorPoolConfig(min_actors=1, max_actors=2)
    assert actor_pool_args(pool)["compute"].max_concurrent_calls_per_actor is None
    threads = actor_pool_args(pool, concurrent_calls=4)["compute"]
    assert threads.max_concurrent_calls_per_actor == threads.max_tasks_in_flight_per_actor == 4


def test_only_the_vllm_generation_stage_gets_batches_in_flight():
    from sdrrl_ray.config import Config, GenerateConfig
    from sdrrl_ray.errors import ConfigError
    from sdrrl_ray.transfer.plan import engine_options

    for engine in ("vllm", "hf"):
        cfg = Config(generate=GenerateConfig(engine=engine, model="m"))
        assert cfg.generate.batches_in_flight == 64  # x the default batch 16: 4x the 256 sequences of vLLM on CPU
        assert engine_options(cfg).concurrent_calls == (64 if engine == "vllm" else 1)
    with pytest.raises(ConfigError, match="generate.batches_in_flight"):
        GenerateConfig(batches_in_flight=0)

