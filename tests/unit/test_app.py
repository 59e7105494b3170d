"""The entry points without Ray: the phase table (one spelling, every phase importable before any
runs), job arguments, and user errors mapped to exit status 2 with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sdrrl_ray.app import jobs, phases
from sdrrl_ray.app.phases import Phase, parse_phases
from sdrrl_ray.errors import UserError
from tests.conftest import DEMO_CONFIG as DEMO
from tests.conftest import ROOT


def run_job_script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def config_first(stdout: str) -> dict:
    cfg, _ = json.JSONDecoder().raw_decode(stdout[stdout.index("{"):])
    return cfg


def test_job_scripts_map_user_errors_to_exit_2(tmp_path):
    res = run_job_script("jobs/full.py", DEMO, "seed=x")
    assert res.returncode == 2 and res.stderr.strip() == "jobs/full.py: error: seed must be int, got 'x'"
    res = run_job_script("jobs/full.py")
    assert res.returncode == 2 and "usage: jobs/full.py CONFIG" in res.stderr
    res = run_job_script("jobs/full.py", DEMO, f"out_dir={tmp_path}", "--phases", "transfer-set,nope")
    assert res.returncode == 2 and "phases has unknown ['nope']" in res.stderr
    assert config_first(res.stdout)["out_dir"] == str(tmp_path)  # config printed before the phase check
    res = run_job_script("jobs/eval.py", DEMO, "--phases", "train")
    assert res.returncode == 2 and "use jobs/full.py to choose phases" in res.stderr
    assert "Traceback" not in res.stderr


def _missing() -> None:
    import sdrrl_ray.no_such_module  # noqa: F401 - the phase a checkout lacks


def test_missing_phase_fails_before_any_phase_runs(monkeypatch):
    real = phases.PHASES["train"]
    monkeypatch.setitem(phases.PHASES, "train", Phase("train", _missing, real.lines, real.report))
    with pytest.raises(UserError, match=r"phase 'train' cannot be imported here \(No module named 'sdrrl_ray.no_such"):
        phases.phase_function("train")
    monkeypatch.setitem(phases.PHASES, "train", Phase("train", lambda: None, real.lines, real.report))
    with pytest.raises(UserError, match="has no run function"):
        phases.phase_function("train")
    calls = []
    monkeypatch.setitem(phases.PHASES, "transfer-set",
                        Phase("transfer-set", lambda: calls.append, real.lines, real.report))
    monkeypatch.setattr("sdrrl_ray.runtime.init_ray", lambda cfg: calls.append("init"))
    monkeypatch.setitem(phases.PHASES, "train", Phase("train", _missing, real.lines, real.report))
    assert jobs.job_main([DEMO, "--phases", "transfer-set,train"], prog="jobs/full.py") == 2
    assert calls == []  # neither Ray nor the transfer set was started


def test_phase_arguments_and_one_spelling():
    assert jobs.split_job_args(["c.yaml", "seed=1", "phases=[transfer-set,eval]"]) == (
        "c.yaml", ["seed=1"], "[transfer-set,eval]")
    assert jobs.split_job_args(["c.yaml", "--phases", "train"]) == ("c.yaml", [], "train")
    assert jobs.split_job_args(["--phases=train", "c.yaml"]) == ("c.yaml", [], "train")
    assert parse_phases("[transfer-set, eval]") == ("transfer-set", "eval")
    assert parse_phases("transfer-set,train") == ("transfer-set", "train")
    # the command line takes transfer_set for transfer-set (as fire does for the command); one name inside
    assert parse_phases("transfer_set") == ("transfer-set",)
    assert phases.ALL_PHASES == ("transfer-set", "train", "eval")
    with pytest.raises(UserError, match="names a phase twice"):
        parse_phases("transfer-set,transfer_set")


def test_cli_and_jobs_run_the_same_phase_table(monkeypatch, capsys, tmp_path):
    from sdrrl_ray.app.cli import main

    ran = []
    for name, real in list(phases.PHASES.items()):
        monkeypatch.setitem(phases.PHASES, name, Phase(name, lambda name=name: (lambda cfg: ran.append(name) or {}),
                                                        lambda cfg, result: [f"lines of {cfg.seed}"], real.report))
    assert main(["demo", "seed=5", f"--out={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    assert ran == ["transfer-set", "train", "eval"]
    assert "sdrrl: phase transfer-set: start" in out and "lines of 5" in out and "sdrrl: phase eval: done in" in out
    # the resolved config goes to OUT/config.yaml, named in one line; not printed
    assert f"sdrrl: config: {tmp_path / 'config.yaml'}" in out and "{" not in err
    assert "seed: 5" in (tmp_path / "config.yaml").read_text() and not (tmp_path / ".lock").exists()
    ran.clear()
    monkeypatch.setattr("sdrrl_ray.runtime.init_ray", lambda cfg: None)
    monkeypatch.setattr("sdrrl_ray.runtime.wait_gpus_released", lambda timeout_s: {"holders": 0, "gpus_total": 0.0,
                                                                                    "gpus_available": 0.0})
    assert jobs.job_main([DEMO, "phases=[train,eval]", f"out_dir={tmp_path}"], prog="jobs/full.py") == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert ran == ["train", "eval"] and set(json.loads(last)["phases"]) == {"train", "eval"}


def test_console_scripts_point_at_functions_that_exist():
    import importlib
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        scripts = tomllib.load(fh)["project"]["scripts"]
    assert set(scripts) == {"sdrrl"}
    for target in scripts.values():
        module, _, fn = target.partition(":")
        assert callable(getattr(importlib.import_module(module), fn)), target


def test_a_command_without_its_config_is_one_line(capsys):
    from sdrrl_ray.app.cli import main

    for command in ("transfer-set", "train", "eval", "config"):
        assert main([command]) == 2
        out, err = capsys.readouterr()
        assert err.strip() == (
            "sdrrl: error: this command needs a config file: sdrrl COMMAND CONFIG [key=value ...] "
            "(example: sdrrl transfer-set jobs/configs/demo.yaml out_dir=out/run)"), err
        assert "Usage" not in out + err


def test_interrupt_and_full_disk_are_one_line(capsys):
    import errno

    from sdrrl_ray.app.exits import run_mapped

    def interrupted():
        raise KeyboardInterrupt

    assert run_mapped(interrupted, "sdrrl") == 130
    assert capsys.readouterr().err == "sdrrl: interrupted; rerun the same command to resume\n"

    def full_disk_in_a_worker():
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/out/transfer_set/part-1.parquet")
        except OSError as exc:
            raise RuntimeError("task failed") from exc  # how a task error wraps it

    assert run_mapped(full_disk_in_a_worker, "sdrrl") == 2
    err = capsys.readouterr().err
    assert err.startswith("sdrrl: error: no space left on the device writing /out/transfer_set/part-1.parquet")
    assert err.count("\n") == 1 and "run the same command again" in err


def test_a_second_run_into_the_same_out_is_refused(tmp_path, capsys):
    from sdrrl_ray.config import load_config
    from sdrrl_ray.layout.lock import OutLock

    cfg = load_config(DEMO, [f"out_dir={tmp_path}"])
    with OutLock(str(tmp_path)):
        with pytest.raises(UserError, match="in use by another run"):
            phases.run_phases(cfg, ["transfer-set"], prog="sdrrl")


def test_a_full_disk_is_named_when_ray_kept_the_worker_error_only_as_text():
    from sdrrl_ray.errors import user_error

    class FakeRayTaskError(OSError):
        """Stands for Ray's task error: the worker's traceback as text, the path only inside it."""

    wrapper = FakeRayTaskError("Traceback ...\nOSError: [Errno 28] No space left on device: '/data/out'")
    wrapper.__cause__ = OSError(28, "No space left on device", "Failed to apply UDF transform after 1/1 attempts")
    assert str(user_error(wrapper)).startswith("no space left on the device writing /data/out (")


def test_an_input_without_records_stops_before_any_work(tmp_path, capsys):
    from sdrrl_ray.app.cli import main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n   \n")
    assert main(["transfer-set", DEMO, f"data.path={empty}", f"out_dir={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"sdrrl: error: no records in {empty}") and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "out" / "manifest.json").exists()


# ----------------------------------------------------------------------------------------------
# help, version and the one-line error for a missing extra


def test_help_lists_each_command_as_typed_with_an_example(capsys):
    from sdrrl_ray.app.cli import Commands, main
    from sdrrl_ray.app.help import COMMANDS, command_table

    table = command_table(Commands)
    assert {"transfer-set", "train", "eval", "demo", "config", "plan"} <= set(table)
    assert set(table) <= set(COMMANDS), f"commands without a summary and example in help.COMMANDS: " \
                                        f"{set(table) - set(COMMANDS)}"
    for argv in (["--help"], ["-h"], []):
        assert main(argv) == 0
        out, err = capsys.readouterr()
        assert err == "" and "sdrrl transfer_set" not in out and "sdrrl --version" in out
        for name in table:
            assert f"\n  {name} " in out and f"e.g. {COMMANDS[name][1]}\n" in out, name
            assert COMMANDS[name][1].startswith(f"sdrrl {name} "), name
    # a non-terminal and no pager: the installed entry point prints the same text and exits 0
    res = subprocess.run([sys.executable, "-m", "sdrrl_ray", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL, env={**os.environ, "PAGER": "false"})
    assert res.returncode == 0 and "e.g. sdrrl transfer-set jobs/configs/demo.yaml" in res.stdout, res.stderr


def test_command_help_shows_the_config_argument_and_points_to_sdrrl_config(capsys):
    from sdrrl_ray.app.cli import main

    for argv in (["transfer-set", "--help"], ["transfer_set", "-h"], ["train", DEMO, "--help"], ["plan", "-h"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        name = argv[0].replace("_", "-")
        assert out.startswith(f"usage: sdrrl {name} CONFIG [key=value ...]"), out
        assert "CONFIG         a YAML job config, e.g. jobs/configs/demo.yaml" in out
        assert "`sdrrl config CONFIG [key=value ...]` prints it resolved" in out
        assert f"example:\n  sdrrl {name} jobs/configs/demo.yaml" in out
    assert main(["plan", "--help"]) == 0 and "--node-type=VALUE" in capsys.readouterr().out
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sdrrl demo [out_dir=DIR | --out DIR]")
    assert "sdrrl config jobs/configs/demo.yaml" in out


def test_version_comes_from_the_package_metadata(capsys):
    from importlib.metadata import version

    from sdrrl_ray.app.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"sdrrl {version('sdrrl-ray')}\n"


def test_an_unknown_command_is_one_line(capsys):
    from sdrrl_ray.app.cli import main

    assert main(["trian", DEMO]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("sdrrl: error: unknown command 'trian'; choose from transfer-set, train, ")
    assert err.count("\n") == 1 and out == ""


def test_demo_takes_out_dir_as_well_as_out(monkeypatch, capsys, tmp_path):
    from sdrrl_ray.app.cli import main

    for name, real in list(phases.PHASES.items()):
        monkeypatch.setitem(phases.PHASES, name, Phase(name, lambda: (lambda cfg: {}), lambda cfg, r: [], real.report))
    assert main(["demo", f"out_dir={tmp_path / 'a'}"]) == 0
    assert main(["demo", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "config.yaml").exists() and (tmp_path / "b" / "config.yaml").exists()
    assert f"out_dir: {tmp_path / 'a'}" in (tmp_path / "a" / "config.yaml").read_text()


def test_a_phase_without_its_extra_is_one_line_naming_the_extra(monkeypatch, capsys, tmp_path):
    from sdrrl_ray.app.cli import main

    monkeypatch.setitem(sys.modules, "deepspeed", None)  # what find_spec reports for a package not installed
    assert main(["train", DEMO, f"out_dir={tmp_path}"]) == 2
    out, err = capsys.readouterr()
    assert err == "sdrrl: error: sdrrl train needs DeepSpeed: pip install 'sdrrl-ray[train]'\n"
    assert "phase train: start" not in out and not (tmp_path / "config.yaml").exists()  # nothing started
    assert jobs.job_main([DEMO, "phases=[transfer-set,train]", f"out_dir={tmp_path}"], prog="jobs/full.py") == 2
    assert capsys.readouterr().err == ("jobs/full.py: error: jobs/full.py (transfer-set, train) needs DeepSpeed: "
                                       "pip install 'sdrrl-ray[train]'\n")
    for module in ("ctranslate2", "seqeval"):
        monkeypatch.setitem(sys.modules, module, None)
    assert main(["demo", f"out_dir={tmp_path}"]) == 2
    assert capsys.readouterr().err == ("sdrrl: error: sdrrl (transfer-set, train, eval) needs CTranslate2, DeepSpeed, "
                                       "seqeval: pip install 'sdrrl-ray[all]'\n")
