"""Row-shape transforms between stages, on dict batches."""

import numpy as np

from sdrrl_ray.stages.assemble import assemble
from sdrrl_ray.stages.targets import expand_targets


def obj(values):
    return np.array(values, dtype=object)


def item_batch():
    return {
        "item_id": obj(["a", "b", "c"]),
        "record": np.array([0, 1, 2]),
        "question": obj(["Qa", "Qb", None]),
        "answer": obj(["Aa", "Ab", None]),
        "answer_source": obj(["gold", "self", None]),
        "status": obj(["ok", "ok", "rejected"]),
        "stage": obj([None, None, "ingest"]),
        "reason": obj([None, None, "invalid_json"]),
        "detail": obj([None, None, "x.jsonl:3"]),
        "src_lang": obj(["en"] * 3),
        "done_targets": obj(["", "ja", ""]),
    }


def test_expand_targets_skips_done_targets_and_passes_rejects_once():
    rows = expand_targets(item_batch(), targets=["ja", "th"]).to_pylist()
    assert [(r["item_id"], r["tgt_lang"]) for r in rows] == [("a", "ja"), ("a", "th"), ("b", "th"), ("c", None)]
    assert rows[0]["question_src"] == "Qa" and rows[0]["answer_src"] == "Aa"
    assert rows[3]["reason"] == "invalid_json"


def test_assemble_counts_parts_and_drops_only_affected_variants():
    pairs = expand_targets(item_batch(), targets=["ja", "th"]).to_pydict()
    n = len(pairs["item_id"])
    batch = {k: obj(v) for k, v in pairs.items()}
    batch["question_tgt"] = obj(["Qja", "Qth", "Qth-b", None])
    batch["answer_tgt"] = obj(["Aja", "bad", "Ath-b", None])
    batch["question_ok"] = np.array([True, True, False, False])
    batch["answer_ok"] = np.array([True, False, True, False])
    batch["question_reason"] = obj([None, None, "langid_mismatch", None])
    batch["answer_reason"] = obj([None, "repetition_loop", None, None])
    assert n == 4
    rows = assemble(batch, subsets=["LL", "TL", "LT", "TT", "mt", "comp"], source_lang="en").to_pylist()
    kept = {r["id"] for r in rows if r["status"] == "ok"}
    assert kept == {"a:ja:LL", "a:ja:TL", "a:ja:LT", "a:ja:TT", "a:th:LL", "a:th:TL", "b:th:LL", "b:th:LT"}
    parts = {(r["id"], r["reason"], r["stage"]) for r in rows if r["part"]}
    assert parts == {("a:th:answer", "repetition_loop", "filter"), ("b:th:question", "langid_mismatch", "filter")}
    dropped = {r["id"] for r in rows if r["status"] == "rejected" and r["stage"] == "expand"}
    assert dropped == {"a:th:LT", "a:th:TT", "b:th:TL", "b:th:TT"}
    upstream = [r for r in rows if r["item_id"] == "c"]
    assert len(upstream) == 1 and upstream[0]["reason"] == "invalid_json"
    assert upstream[0]["tgt_lang"] is None and upstream[0]["id"] == "c"
    by_id = {r["id"]: r for r in rows}
    assert by_id["a:ja:TL"]["question"] == "Qja" and by_id["a:ja:TL"]["answer"] == "Aa"
    assert by_id["a:ja:LT"]["question_lang"] == "en" and by_id["a:ja:LT"]["answer_lang"] == "ja"
