"""Hostile config input: impossible numbers, duplicate or source targets, an empty or root out_dir,
config files that are not UTF-8 / not files / not valid YAML, and YAML 1.1 surprises (``0123`` octal,
``yes``/``no`` booleans). Every problem is one ``sdrrl: error: ...`` line that names the key."""

from __future__ import annotations

import math

import pytest
import yaml

from sdrrl_ray.app.exits import USER_ERROR, run_mapped
from sdrrl_ray.config import load_config, parse_overrides
from sdrrl_ray.errors import ConfigError, UserError


def problems_of(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(None, overrides)
    text = str(exc.value)
    assert "\n" not in text
    return text


# --- 1. impossible numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("override, key", [
    ("train.epochs=-1", "train.epochs"),
    ("train.epochs=0", "train.epochs"),
    ("rows_per_file=-1", "rows_per_file"),
    ("rows_per_file=0", "rows_per_file"),
    ("translate.max_input_tokens=0", "translate.max_input_tokens"),
    ("translate.max_input_tokens=-5", "translate.max_input_tokens"),
    ("translate.max_decoding_length=0", "translate.max_decoding_length"),
    ("translate.max_decoding_length=-1", "translate.max_decoding_length"),
    ("data.max_chars=0", "data.max_chars"),
    ("data.limit=-1", "data.limit"),
    ("eval.limit=-1", "eval.limit"),
    ("eval.limit=0", "eval.limit"),
    ("train.micro_batch_size=0", "train.micro_batch_size"),
    ("train.grad_accum=0", "train.grad_accum"),
    ("train.global_batch_size=-8", "train.global_batch_size"),
    ("train.max_length=0", "train.max_length"),
    ("train.num_workers=0", "train.num_workers"),
    ("train.learning_rate=0", "train.learning_rate"),
    ("train.heldout_fraction=1", "train.heldout_fraction"),
    ("train.warmup_ratio=-0.1", "train.warmup_ratio"),
    ("train.early_stopping_patience=-1", "train.early_stopping_patience"),
    ("generate.max_prompt_tokens=0", "generate.max_prompt_tokens"),
    ("generate.tensor_parallel_size=0", "generate.tensor_parallel_size"),
    ("generate.max_model_len=0", "generate.max_model_len"),
    ("generate.top_p=0", "generate.top_p"),
    ("generate.gpu_memory_utilization=1.5", "generate.gpu_memory_utilization"),
    ("filter.max_repeat_ngram=0", "filter.max_repeat_ngram"),
    ("filter.langid_min_share=2", "filter.langid_min_share"),
    ("filter.qe.batch_size=0", "filter.qe.batch_size"),
    ("code_switch.max_ngram=0", "code_switch.max_ngram"),
    ("parallel.n_pairs=0", "parallel.n_pairs"),
    ("eval.contamination_ngram=0", "eval.contamination_ngram"),
    ("eval.task_max_new_tokens={flores: 0}", "eval.task_max_new_tokens.flores"),
    ("ray.num_cpus=0", "ray.num_cpus"),
    ("ray.timeout_s=-1", "ray.timeout_s"),
    # a shared pool section's problem names its full key
    ("translate.pool.batch_size=0", "translate.pool.batch_size"),
    ("generate.pool.max_actors=0", "generate.pool.max_actors"),
    ("filter.pool.num_gpus=-1", "filter.pool.num_gpus"),
])
def test_impossible_numbers_are_rejected_naming_the_key(override, key):
    text = problems_of([override])
    assert text.startswith(f"{key}=")


def test_length_ratio_minimum_above_maximum_is_rejected():
    text = problems_of(["filter.min_length_ratio=6", "filter.max_length_ratio=2"])
    assert "filter.min_length_ratio=6.0 is above filter.max_length_ratio=2.0" in text


def test_a_wrongly_typed_number_is_reported_not_a_traceback():
    # the bad value is reported and the section's own checks still run on the default (was a TypeError)
    assert problems_of(["generate.temperature=abc"]) == "generate.temperature must be float, got 'abc'"
    assert "answer.p_self is nan" in problems_of(["answer.p_self=.nan"])


# --- 2. targets ----------------------------------------------------------------------------------------

def test_duplicate_target_is_rejected():
    text = problems_of(["languages.targets=[ja,th,ja]", "eval.tasks=[belebele]"])
    assert text == "languages.targets lists ja twice; name each target once (languages.targets=[ja,th])"


def test_target_equal_to_the_source_is_rejected_with_a_fix():
    text = problems_of(["languages.targets=[en,ja]", "eval.tasks=[belebele]"])
    assert "languages.targets contains the source language 'en'" in text
    assert "languages.targets=[ja]" in text


# --- 3. out_dir ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "  "])
def test_empty_out_dir_is_rejected(value):
    assert problems_of([f"out_dir={value}"]).startswith("out_dir is empty")
    assert "set out_dir=DIR" in problems_of([f"out_dir={value}"])


@pytest.mark.parametrize("value", ["/", "//", "/.", "/tmp/..", "file:///", "file://", "file:/"])
def test_root_out_dir_is_rejected(value):
    text = problems_of([f"out_dir={value}"])
    assert "is the file-system root" in text and "set out_dir=DIR" in text


def test_bucket_without_a_name_is_rejected_but_folders_are_fine():
    assert "names no bucket" in problems_of(["out_dir=s3://"])
    for ok in ("out", ".", "/data/run", "s3://bucket/run", "file:///tmp/run"):
        assert load_config(None, [f"out_dir={ok}"]).out_dir == ok


# --- 4. the config file itself -----------------------------------------------------------------------

def user_error_of(path) -> str:
    with pytest.raises(UserError) as exc:
        load_config(path)
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("seed: 1\ndata: {path: caf\u00e9.jsonl}\n".encode("latin-1"))
    text = user_error_of(path)
    assert str(path) in text and "must be UTF-8 text" in text


def test_config_file_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_text("seed: 5\n", encoding="utf-8-sig")
    assert load_config(path).seed == 5


def test_config_that_is_a_folder(tmp_path):
    (tmp_path / "run.yaml").write_text("seed: 1\n")
    text = user_error_of(tmp_path)
    assert text.startswith(f"config file {tmp_path} is a folder, not a YAML file") and "run.yaml" in text


def test_missing_config_file(tmp_path):
    assert "does not exist" in user_error_of(tmp_path / "nope.yaml")
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "gone.yaml")
    assert "is a link to" in user_error_of(link) and "does not exist" in user_error_of(link)


def test_yaml_syntax_error_is_one_line_with_file_line_and_column(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("seed: 1\nlanguages:\n  x: y: z\n")
    assert user_error_of(path).startswith(f"{path}:3:7: mapping values are not allowed here;")
    path.write_text("seed: 1\n\tdata: 2\n")
    assert user_error_of(path).startswith(f"{path}:2:1: found character")
    path.write_text("seed: 1\x00\n")
    assert user_error_of(path).startswith(f"{path}: position 7: unacceptable character #x0000")


def test_hostile_yaml_structures_are_one_line_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\nseed: 2\n")
    assert user_error_of(path).startswith(f"{path}:2:1: key 'seed' appears twice")
    path.write_text("a: &a [*a]\n")
    assert "refers to the node that contains it" in user_error_of(path)
    lines = ["a0: &a0 {k: v}"] + [f"a{i}: &a{i} {{" + ", ".join(f"x{j}: *a{i - 1}" for j in range(10)) + "}"
                                  for i in range(1, 10)]
    path.write_text("\n".join(lines) + "\n")
    assert "aliases expand to more than" in user_error_of(path)
    path.write_text("seed: " + "[" * 3000 + "]" * 3000 + "\n")
    assert "nested too deeply" in user_error_of(path)
    path.write_text("seed: 1\n---\nseed: 2\n")
    assert "expected a single document" in user_error_of(path)
    path.write_text("0\n")
    assert "must hold a mapping at the top level" in user_error_of(path)


def test_empty_config_file_is_all_defaults(tmp_path):
    for text in ("", "# nothing yet\n", "~\n"):
        (tmp_path / "empty.yaml").write_text(text)
        assert load_config(tmp_path / "empty.yaml").seed == 0


def test_a_section_with_everything_commented_out_is_its_defaults(tmp_path):
    (tmp_path / "c.yaml").write_text("data:\n  # path: x.jsonl\nseed: 2\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.seed == 2 and cfg.data.max_chars == 20000


def test_every_error_is_one_line_on_stderr(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text('"se\\ned": 1\nlanguages: {targets: ["j\\na"]}\n')
    assert run_mapped(lambda: load_config(path), "sdrrl") == USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("sdrrl: error: ") and err.count("\n") == 1
    assert "'se\\ned'" in err


# --- 5. YAML 1.2 scalars -------------------------------------------------------------------------------

def test_override_values_follow_yaml_1_2():
    got = parse_overrides([
        "seed=0123", "a.octal=0o17", "a.hex=0x1F", "a.lr=1e-5", "a.half=.5", "a.inf=-.inf",
        "a.t=True", "a.f=FALSE", "a.n=~", "a.null=Null",
        "a.words=[yes,no,on,off,y,n]", "a.date=2024-01-01", "a.sexa=1:30", "a.eq==",
    ])
    assert got["seed"] == 123
    a = got["a"]
    assert a["octal"] == 15 and a["hex"] == 31
    assert a["lr"] == 1e-5 and isinstance(a["lr"], float) and a["half"] == 0.5 and a["inf"] == -math.inf
    assert a["t"] is True and a["f"] is False and a["n"] is None and a["null"] is None
    assert a["words"] == ["yes", "no", "on", "off", "y", "n"]
    assert a["date"] == "2024-01-01" and a["sexa"] == "1:30" and a["eq"] == "="


def test_seed_with_a_leading_zero_is_decimal_and_no_is_norwegian():
    cfg = load_config(None, ["seed=0123", "train.learning_rate=1e-5"])
    assert cfg.seed == 123 and cfg.train.learning_rate == 1e-5
    # "no" stays the string "no" (it was False): the language check names it
    assert "unknown language 'no'" in problems_of(["languages.targets=[no]"])
    assert "languages.source='no'" in problems_of(["languages.source=no"])


@pytest.mark.parametrize("value", ["yes", "no", "on", "off", "1"])
def test_bool_field_given_yes_says_use_true_or_false(value):
    text = problems_of([f"train.packing={value}"])
    assert text.startswith("train.packing must be a boolean") and "use true or false" in text


def test_yaml_file_follows_yaml_1_2_too(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 0123\ntrain: {learning_rate: 1e-5, packing: True}\n")
    cfg = load_config(path)
    assert cfg.seed == 123 and cfg.train.learning_rate == 1e-5 and cfg.train.packing is True
    path.write_text("train:\n  packing: yes\n")
    assert "train.packing must be a boolean, got 'yes'" in user_error_of(path)
    path.write_text("languages: {targets: [no]}\n")
    assert "unknown language 'no'" in user_error_of(path)
    path.write_text("base: &b {seed: 4}\n<<: *b\n")  # merge keys still work
    assert "unknown config key 'base'" in user_error_of(path)


def test_the_global_safe_loader_is_untouched():
    load_config(None, ["seed=0123"])
    assert yaml.safe_load("yes") is True and yaml.safe_load("0123") == 83
