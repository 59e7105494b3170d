"""Translation lengths fitted to the model's positions (a decoder run past them writes garbage or
fails the whole batch, which is then retried row by row and loses rows)."""

from __future__ import annotations

import json
import logging

from sdrrl_ray.mt.backends import BackendOptions, fit_to_model, model_positions


def test_positions_are_read_from_the_hugging_face_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 256}))
    assert model_positions(str(tmp_path)) == 256
    assert model_positions(str(tmp_path / "missing")) is None
    (tmp_path / "config.json").write_text(json.dumps({"layers": 2}))  # a CTranslate2 folder says nothing
    assert model_positions(str(tmp_path)) is None


def test_lengths_past_the_positions_are_cut_with_one_warning(caplog):
    options = BackendOptions(max_input_tokens=256, max_decoding_length=512)
    with caplog.at_level(logging.WARNING, logger="sdrrl_ray"):
        fitted = fit_to_model(options, 256, "/models/mt")
    assert (fitted.max_input_tokens, fitted.max_decoding_length) == (254, 254)
    assert fitted.beam_size == options.beam_size
    assert len(caplog.records) == 1 and "max_decoding_length=512" in caplog.text and "/models/mt" in caplog.text


def test_lengths_within_the_positions_or_unknown_positions_are_kept(caplog):
    options = BackendOptions(max_input_tokens=200, max_decoding_length=254)
    with caplog.at_level(logging.WARNING, logger="sdrrl_ray"):
        assert fit_to_model(options, 256, "/m") is options
        assert fit_to_model(BackendOptions(max_decoding_length=4096), None, "/m").max_decoding_length == 4096
    assert caplog.records == []
