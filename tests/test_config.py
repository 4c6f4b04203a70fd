"""Config: the one place that reads the environment."""

from pathlib import Path

import pytest

from advisor.config import DEFAULT_SERVER_NAME, Config


def test_env_is_read_and_overrides_win(monkeypatch):
    monkeypatch.setenv("ADVISOR_TOP_K", "5")
    monkeypatch.setenv("ADVISOR_CORPUS_DIR", "/data/corpus")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    monkeypatch.setenv("ADVISOR_AUTO_BUILD", "no")
    cfg = Config.from_env(top_k=3)
    assert cfg.top_k == 3  # explicit override beats the environment
    assert cfg.corpus_dir == Path("/data/corpus")
    assert cfg.server_port == 7999 and cfg.server_name == DEFAULT_SERVER_NAME
    assert cfg.auto_build is False


def test_bad_number_says_what_was_expected(monkeypatch):
    monkeypatch.setenv("ADVISOR_TOP_K", "many")
    with pytest.raises(ValueError, match="Expected an integer, got 'many'"):
        Config.from_env()


def test_token_never_in_repr(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue123")
    cfg = Config.from_env()
    assert cfg.hf_token == "hf_secretvalue123"
    assert "hf_secretvalue123" not in repr(cfg)
