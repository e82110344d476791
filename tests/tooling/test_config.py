"""Where DATABASE_URL comes from (the environment, else .env; empty is unset), and the other settings.

How a URL is checked and described: test_target.py."""

from __future__ import annotations

import pytest

from tooling.config import load_settings
from tooling.errors import ToolError

ENV_URL = "postgresql://app@db.example:5432/tododb"
DOTENV_URL = "postgresql://dotenv@localhost/tododb"


@pytest.fixture
def env_file(tmp_path):
    path = tmp_path / ".env"
    path.write_text(f"DATABASE_URL={DOTENV_URL}\n")
    return path


def test_environment_wins_over_dotenv(monkeypatch, env_file):
    monkeypatch.setenv("DATABASE_URL", ENV_URL)
    assert load_settings(env_file=env_file).database_url == ENV_URL


def test_dotenv_is_used_when_the_environment_has_none(monkeypatch, env_file):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert load_settings(env_file=env_file).database_url == DOTENV_URL
    monkeypatch.setenv("DATABASE_URL", "")  # empty counts as unset
    assert load_settings(env_file=env_file).database_url == DOTENV_URL


def test_no_url_anywhere_means_the_embedded_server(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert load_settings(env_file=tmp_path / "absent.env").database_url is None


def test_lock_wait_must_be_a_number(monkeypatch, tmp_path):
    monkeypatch.setenv("TODODB_LOCK_WAIT", "soon")
    with pytest.raises(ToolError, match="TODODB_LOCK_WAIT"):
        load_settings(env_file=tmp_path / "absent.env")
