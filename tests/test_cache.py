"""Where the compilation cache goes, and when it stays off (no framework needed)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from conformance.cache import CACHE_ENV, cache_dir, use_jax_compilation_cache


def test_cache_lives_in_the_users_cache_folder_by_default(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """Shared by every clone and environment, like uv's package cache."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    assert cache_dir("jax") == tmp_path / "xdg" / "conformance" / "jax"
    assert (tmp_path / "xdg" / "conformance" / "jax").is_dir()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("jax") == tmp_path / "home" / ".cache" / "conformance" / "jax"


def test_cache_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # cannot hold a folder
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    assert cache_dir("jax") == tmp_path / "venv" / "conformance-cache" / "jax"
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "file"))
    assert cache_dir("jax") is None


@pytest.mark.parametrize("value", ["off", "0", "OFF", "no"])
def test_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(CACHE_ENV, value)
    assert cache_dir("jax") is None


def test_cache_dir_from_the_environment_and_unwritable_places(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_dir("jax") == tmp_path / "c" / "jax"
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "file"))  # cannot hold a directory
    assert cache_dir("jax") is None


class _Config:
    def __init__(self, preset: str | None = None) -> None:
        self.jax_compilation_cache_dir = preset
        self.updates: dict[str, Any] = {}

    def update(self, name: str, value: Any) -> None:
        self.updates[name] = value
        setattr(self, name, value)


def _fake_jax(monkeypatch: pytest.MonkeyPatch, preset: str | None = None) -> _Config:
    config = _Config(preset)
    monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(config=config))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    return config


def test_jax_cache_keeps_every_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = _fake_jax(monkeypatch)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert use_jax_compilation_cache() == tmp_path / "jax"
    assert config.updates == {"jax_compilation_cache_dir": str(tmp_path / "jax"),
                              "jax_persistent_cache_min_compile_time_secs": 0.0,
                              "jax_persistent_cache_min_entry_size_bytes": 0}


def test_jax_cache_left_alone_when_the_user_chose_one_or_it_is_off(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = _fake_jax(monkeypatch, preset=str(tmp_path / "mine"))
    assert use_jax_compilation_cache() == tmp_path / "mine"
    assert config.updates == {}
    config = _fake_jax(monkeypatch)
    monkeypatch.setenv(CACHE_ENV, "off")
    assert use_jax_compilation_cache() is None
    assert config.updates == {}
