import numpy as np

from sdrrl_ray.stages.answer_choice import choose_answers


def batch(n):
    return {
        "item_id": np.array([f"item{i}" for i in range(n)], dtype=object),
        "status": np.array(["ok"] * n, dtype=object),
    }


def test_mixed_is_about_half_and_seeded_by_item_id():
    out = choose_answers(batch(2000), mode="mixed", p_self=0.5, seed=0)
    share = np.mean(out["answer_source"] == "self")
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / 2000)
    # the same item gets the same draw whatever batch it is in
    part = choose_answers({k: v[500:510].copy() for k, v in batch(2000).items()}, mode="mixed", p_self=0.5, seed=0)
    assert part["answer_source"].tolist() == out["answer_source"][500:510].tolist()
    other_seed = choose_answers(batch(2000), mode="mixed", p_self=0.5, seed=1)
    assert other_seed["answer_source"].tolist() != out["answer_source"].tolist()


def test_modes_and_needs_generation():
    assert set(choose_answers(batch(50), mode="gold", p_self=0.5, seed=0)["answer_source"]) == {"gold"}
    out = choose_answers(batch(50), mode="self", p_self=0.5, seed=0)
    assert set(out["answer_source"]) == {"self"} and out["needs_generation"].all()
    mixed = choose_answers(batch(50), mode="mixed", p_self=0.5, seed=0)
    assert (mixed["needs_generation"] == (mixed["answer_source"] == "self")).all()
    everything = choose_answers(batch(50), mode="gold", p_self=0.5, seed=0, generate_all=True)
    assert everything["needs_generation"].all()


def test_rejected_rows_are_left_alone():
    b = batch(3)
    b["status"][1] = "rejected"
    out = choose_answers(b, mode="self", p_self=0.5, seed=0)
    assert out["answer_source"].tolist() == ["self", None, "self"]
    assert out["needs_generation"].tolist() == [True, False, True]
