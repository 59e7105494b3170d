"""The transfer-set plan's column contracts: every stage's input columns are produced by the stages
before it, checked when the plan is built (no Ray: the steps are listed, not run)."""

import os

import pytest

from sdrrl_ray.config import load_config
from sdrrl_ray.schema import PlanColumnError, StageColumns, check_plan_columns
from sdrrl_ray.transfer.plan import PlanInputs, check_steps, plan_steps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
INPUTS = PlanInputs(files=[], model_path="/m", generation_cache_url="/c", translation_models={"ja": "/mt"},
                    parallel_rows=[{"id": "par:ja:1:comp", "item_id": "par:ja:1", "status": "ok"}])


@pytest.mark.parametrize("overrides", [
    [],
    ["transfer.subsets=[LL]", "code_switch.enabled=false"],
    ["transfer.subsets=[LL, TT, mt]", "languages.targets=[ja]"],
])
def test_the_configured_plans_line_up(overrides):
    steps = plan_steps(load_config(DEMO, overrides), INPUTS)
    check_steps(steps)
    names = [s.name for s in steps]
    assert names[:4] == ["answer_choice", "run_columns", "generate", "expand_targets"]
    assert ("translate" in names) == ("transfer.subsets=[LL]" not in overrides)


def test_dropping_a_producing_stage_names_the_stage_and_the_column():
    steps = [s for s in plan_steps(load_config(DEMO, []), INPUTS) if s.name != "generate"]
    with pytest.raises(PlanColumnError, match=r"stage expand_targets needs column\(s\) \['answer'\]"):
        check_steps(steps)
    steps = [s for s in plan_steps(load_config(DEMO, []), INPUTS) if s.name != "filter"]
    with pytest.raises(PlanColumnError, match=r"stage assemble needs column\(s\) \['question_ok', 'answer_ok'"):
        check_steps(steps)


def test_row_shape_changes_drop_columns():
    fan_out = StageColumns.of("fan_out", inputs=("a",), outputs=("b",), replaces=True)
    use_a = StageColumns.of("use_a", inputs=("a",), outputs=())
    assert check_plan_columns([fan_out], ["a"]) == {"b"}
    with pytest.raises(PlanColumnError, match=r"stage use_a needs column\(s\) \['a'\]"):
        check_plan_columns([fan_out, use_a], ["a"])


class FakeDataset:
    """A fake Ray Dataset (no Ray): records what each step asks of it."""

    def __init__(self):
        self.calls = []

    def map_batches(self, fn, **kwargs):
        self.calls.append((getattr(fn, "__name__", str(fn)), kwargs))
        return self

    def repartition(self, **kwargs):
        return self

    def union(self, other):
        return self


def test_every_actor_pool_comes_from_its_config_section(monkeypatch):
    import sdrrl_ray.transfer.plan as plan

    monkeypatch.setattr(plan, "_rows_dataset", lambda rows: None)
    sections = {"generate": "Generator", "translate": "Translator", "filter": "TranslationFilter",
                "code_switch": "CodeSwitcher"}
    overrides = [f"{s}.pool.{k}={v}" for n, s in enumerate(sections) for k, v in
                 (("min_actors", 1), ("max_actors", n + 2), ("batch_size", 10 + n), ("num_cpus", 0.5 + n))]
    ds = FakeDataset()
    for step in plan_steps(load_config(DEMO, overrides), INPUTS):
        step.apply(ds)
    pools = {name: kw for name, kw in ds.calls if "compute" in kw}
    assert set(pools) == set(sections.values())
    for n, (section, cls) in enumerate(sections.items()):
        kw = pools[cls]
        assert (kw["compute"].min_size, kw["compute"].max_size) == (1, n + 2), section
        assert kw["batch_size"] == 10 + n and kw["num_cpus"] == 0.5 + n, section


def test_engine_and_backend_options_refuse_misspelt_names():
    from sdrrl_ray.engines.base import EngineOptions
    from sdrrl_ray.mt.backends import BackendOptions

    with pytest.raises(TypeError, match="num_thread"):
        EngineOptions(num_thread=2)
    with pytest.raises(TypeError, match="beam"):
        BackendOptions(beam=4)
    assert BackendOptions(engine_options=EngineOptions(num_threads=2)).engine_options.num_threads == 2
