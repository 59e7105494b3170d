"""``sdrrl plan`` on the demo config: totals, costs, data limits and rate sources, with the demo's
real models (built once and cached)."""

import json
import os

import pytest

from sdrrl_ray.app.cli import main
from sdrrl_ray.config import load_config
from sdrrl_ray.planner import estimate as E
from sdrrl_ray.planner import rates as R
from sdrrl_ray.planner.nodes import get_node
from sdrrl_ray.planner.planner import Options, plan
from tests.conftest import ROOT, write_jsonl

DEMO = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
LLAMA = os.path.join(ROOT, "jobs", "configs", "llama2-7b-ja.yaml")


def instructions(path, n: int) -> str:
    """``n`` records with the same text and distinct ids: token totals must scale exactly with ``n``."""
    return write_jsonl(path, [{"id": f"r{i}", "instruction": "Name three colours of the rainbow.", "input": "",
                               "output": "Red, orange and yellow are three of them."} for i in range(n)])


def demo_cfg(*overrides):
    return load_config(DEMO, ["parallel.enabled=false", *overrides])


def test_totals_scale_linearly_with_items_and_targets(tmp_path, demo_model):
    def run(n, targets):
        # gold answers and no code-switching: every item is then exactly alike
        cfg = demo_cfg(f"data.path={instructions(tmp_path / f'{n}.jsonl', n)}", f"languages.targets={targets}",
                       "answer.mode=gold", "code_switch.enabled=false")
        return plan(cfg, Options(results_dir=str(tmp_path)))

    one, two = run(40, "[th]"), run(80, "[th]")
    for s in ("LL", "TL", "LT", "TT"):
        assert two["languages"]["th"]["subsets"][s]["tokens"] == pytest.approx(
            2 * one["languages"]["th"]["subsets"][s]["tokens"])
        assert two["languages"]["th"]["subsets"][s]["rows"] == 80
    assert two["phases"]["train"]["tokens"] == pytest.approx(2 * one["phases"]["train"]["tokens"])
    assert two["phases"]["translate"]["tokens"] == pytest.approx(2 * one["phases"]["translate"]["tokens"])
    assert one["phases"]["generate"]["tokens"] == 0  # gold answers only: nothing to generate
    ja, both = run(40, "[ja]"), run(40, "[th,ja]")
    assert set(both["languages"]) == {"th", "ja"}
    assert both["languages"]["th"]["tokens"] == pytest.approx(one["languages"]["th"]["tokens"])
    for phase in ("translate", "train"):  # per-target work adds up; generation is shared by the targets
        assert both["phases"][phase]["tokens"] == pytest.approx(
            one["phases"][phase]["tokens"] + ja["phases"][phase]["tokens"])
    assert both["phases"]["generate"]["tokens"] == pytest.approx(one["phases"]["generate"]["tokens"])
    assert both["phases"]["translate"]["work"].startswith(f"{2 * 2 * 40} segments")


def test_cost_is_hours_over_devices_per_node_times_price(tmp_path, demo_model):
    cfg = demo_cfg(f"data.path={instructions(tmp_path / 'x.jsonl', 30)}")
    a = plan(cfg, Options(node_type="p4d.24xlarge", results_dir=str(tmp_path)))
    b = plan(cfg, Options(node_type="p4d.24xlarge", price_per_hour=100.0, results_dir=str(tmp_path)))
    for p in a["phases"].values():
        assert p["node_hours"] == pytest.approx(p["device_hours"] / 8)
        assert p["cost_usd"] == pytest.approx(p["node_hours"] * 21.96)
    assert b["total"]["cost_usd"] == pytest.approx(a["total"]["cost_usd"] * 100 / 21.96)
    assert b["node"]["price_source"] == "price_per_hour given on the command line"
    assert E.phase_cost(16.0, get_node("p5.48xlarge", uses_gpu=True)) == {
        "device_hours": 16.0, "node_hours": 2.0, "cost_usd": pytest.approx(2 * 55.04)}


# --------------------------------------------------------------------------------------------
# rates


def test_plan_honours_data_limit_and_counts_ingest_rejects(tmp_path, demo_model):
    path = instructions(tmp_path / "x.jsonl", 30)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    out = plan(demo_cfg(f"data.path={path}", "data.limit=12"), Options(results_dir=str(tmp_path)))
    assert out["source"]["items"] == 12 and out["source"]["records"] == 12
    out = plan(demo_cfg(f"data.path={path}"), Options(results_dir=str(tmp_path)))
    assert out["source"]["items"] == 30 and out["source"]["rejected"] == {"invalid_json": 1}


def test_plan_names_the_file_behind_each_rate(tmp_path, demo_model):
    cfg = demo_cfg(f"data.path={instructions(tmp_path / 'x.jsonl', 20)}")
    out = plan(cfg, Options())
    if R.results_dir(None) and os.path.isfile(os.path.join(R.REPO_RESULTS, "generate_hf.json")):
        assert out["phases"]["generate"]["rate"]["source"].endswith("generate_hf.json")
    empty = plan(cfg, Options(results_dir=str(tmp_path)))
    assert all(p["rate"]["source"].startswith("default") for p in empty["phases"].values())


# --------------------------------------------------------------------------------------------
# errors and the command line


def test_absent_model_folder_asks_for_a_tokenizer_and_accepts_one(tmp_path, capsys):
    assert main(["plan", LLAMA]) == 2
    err = capsys.readouterr().err
    assert "Llama-2-7b-hf" in err and "tokenizer=FOLDER" in err
    alpaca = instructions(tmp_path / "a.jsonl", 25)
    assert main(["plan", LLAMA, "tokenizer=demo", f"data.path={alpaca}", "--node_type=p5.48xlarge", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["params"]["generate"]["value"] == 7e9 and "name" in out["params"]["generate"]["source"]
    assert out["node"]["name"] == "p5.48xlarge" and out["source"]["items"] == 25
    assert any("token counts use the tokenizer" in n for n in out["notes"])
    assert out["phases"]["train"]["device_hours"] > 0 and out["total"]["cost_usd"] > 0
