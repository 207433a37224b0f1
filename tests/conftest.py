"""Test options: framework tests run only in their own nox environment."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--framework-env", default=None,
                     help="run only tests marked framework(<this env>)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    env = config.getoption("--framework-env")
    if env is None:
        return
    selected, deselected = [], []
    for item in items:
        marker = item.get_closest_marker("framework")
        (selected if marker is not None and marker.args[0] == env else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_ignore_collect(collection_path: object, config: pytest.Config) -> bool | None:
    """In a framework env, do not even import other frameworks' test modules."""
    env = config.getoption("--framework-env")
    path = str(collection_path)
    if env is None or "frameworks" not in path or not path.endswith(".py"):
        return None
    return f'framework("{env}")' not in Path(path).read_text(encoding="utf-8")
