import glob
import os

import pytest

from sdrrl_ray.config import Config, load_config, parse_overrides
from sdrrl_ray.errors import ConfigError, UserError
from tests.conftest import ROOT

CONFIGS = sorted(glob.glob(os.path.join(ROOT, "jobs", "configs", "**", "*.yaml"), recursive=True))


def test_defaults_are_the_papers():
    cfg = Config()
    assert cfg.translate.beam_size == 4
    assert cfg.filter.qe.threshold == 0.8
    assert cfg.code_switch.p == 0.15
    assert cfg.parallel.n_pairs == 1000
    assert cfg.answer.p_self == 0.5
    assert cfg.train.epochs == 4
    assert cfg.train.zero_stage == 3
    assert cfg.train.per_target is True
    assert set(cfg.transfer.subsets) == {"LL", "TL", "LT", "TT", "mt", "comp"}


def test_overrides_parse_as_yaml():
    assert parse_overrides(["seed=3", "languages.targets=[ja,th]", "data.path=s3://b/x.jsonl"]) == {
        "seed": 3,
        "languages": {"targets": ["ja", "th"]},
        "data": {"path": "s3://b/x.jsonl"},
    }
    cfg = load_config(None, ["seed=3", "languages.targets=[ja,th]", "generate.temperature=0.7"])
    assert cfg.seed == 3 and cfg.languages.targets == ("ja", "th") and cfg.generate.temperature == 0.7


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["generate.tempreature=0.7", "nope=1"])
    text = str(exc.value)
    assert "generate.tempreature" in text and "'nope'" in text


def test_wrong_types_and_values_are_reported_together():
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["seed=abc", "answer.mode=sometimes", "generate.max_new_tokens=0"])
    assert len(exc.value.problems) == 3
    assert "seed" in str(exc.value) and "answer.mode" in str(exc.value)


def test_unsupported_language_fails_naming_language_and_component():
    with pytest.raises(ConfigError, match="'xx'"):
        load_config(None, ["languages.targets=[xx]", "eval.tasks=[belebele]"])
    with pytest.raises(ConfigError, match=r"'cs'.*eval:xlsum"):
        load_config(None, ["languages.targets=[cs]", "eval.tasks=[xlsum]"])
    with pytest.raises(ConfigError, match=r"'nb'.*eval:xlsum"):
        load_config(None, ["languages.targets=[nb]", "eval.tasks=[xlsum]"])
    # a task scores the targets it covers: XL-Sum covers ja, not cs (as in the paper)
    assert load_config(None, ["languages.targets=[cs,ja]", "eval.tasks=[xlsum,mkqa]"]).languages.targets == ("cs", "ja")

    with pytest.raises(ConfigError, match="languages.source"):
        load_config(None, ["languages.source=ja", "languages.targets=[th]", "eval.tasks=[belebele]"])


def test_vllm_engine_without_vllm_fails_at_load(monkeypatch):
    import sdrrl_ray.config.load as config

    monkeypatch.setattr(config, "vllm_available", lambda: False)
    with pytest.raises(ConfigError, match="vllm package is not importable"):
        load_config(None, ["generate.engine=vllm", "eval.tasks=[belebele]"])


def test_missing_config_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    (tmp_path / "c.yaml").write_text("data: {path: ./x.jsonl}\neval: {tasks: [belebele]}\n")
    assert load_config(tmp_path / "c.yaml").data.path == str(tmp_path / "x.jsonl")


def test_configs_are_frozen():
    cfg = Config()
    with pytest.raises(Exception):
        cfg.seed = 1  # type: ignore[misc]


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.relpath(p, ROOT) for p in CONFIGS])
def test_every_shipped_config_loads(path, monkeypatch):
    import sdrrl_ray.config.load as config

    monkeypatch.setattr(config, "vllm_available", lambda: True)  # presets for GPU clusters name vllm
    cfg = load_config(path)
    assert cfg.languages.targets


def test_shipped_configs_exist():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"demo.yaml", "llama2-7b-ja.yaml"} <= names
