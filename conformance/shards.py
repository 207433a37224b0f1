"""Runs made on several machines, merged into one report.

A shard is one environment's run, made on whichever machine has that environment
(`nox -s shard-torch` on one CI runner, `nox -s shard-tensorflow` on another); `conformance
report --runs A B C` merges the run directories that come back. Nothing schedules the
shards: the CI system's matrix does (`.github/workflows/conformance.yml`).

A run directory has to stand alone for that: its header names the framework and version,
Python, platform and device, the suite version, the results schema, the case set it ran
(``case_set``, a digest of the manifest) and the environment it ran in with the versions of
that environment's packages as installed (``env``, ``packages``: read from the installed
distributions, since an upgrade's candidate or a device machine's own Python holds other
versions than `conformance/environments.py` pins).

Runs merge only when they ran the same cases under the same suite version and schema:
a case id names its parameters, but its tolerance and its inputs come from the manifest
the report reads, so a run of another case set would be judged against cases it never
ran, and another suite version may have measured or recorded differently. Such a mix is
refused with one line. A header without one of these fields (an environment that could
not start, a run older than the field) is not checked on it: it holds nothing to mismatch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.cases.store import case_set
from conformance.environments import environment_of

if TYPE_CHECKING:
    from conformance.compare.load import Run

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# Header fields every merged run must share, with what a person calls them.
_SHARED = (("schema", "results schemas"), ("suite_version", "suite versions"))


def environment_facts(framework: str) -> dict[str, Any]:
    """The header's ``env`` (the environment the framework's worker belongs to) and
    ``packages`` (each package that environment pins, at its installed version, or
    ``not installed``)."""
    env = environment_of(framework)
    packages: dict[str, str] = {}
    if env.packages:
        from importlib import metadata  # 11 ms to import: only where there are pins
    for pin in env.packages:
        match = _NAME.match(pin)
        if match is None:
            continue
        try:
            packages[match.group()] = metadata.version(match.group())
        except metadata.PackageNotFoundError:
            packages[match.group()] = "not installed"
    return {"env": env.name, "packages": packages}


def check_mergeable(runs: Sequence[Run], cases_dir: Path) -> None:
    """Raise ``ValueError`` (one line) unless ``runs`` share schema, suite version and case
    set, and that case set is the one in ``cases_dir``."""
    for key, what in _SHARED:
        first: dict[str, Path] = {}
        for run in runs:
            if key not in run.header:
                continue
            value = str(run.header[key])
            first.setdefault(value, run.path)
            if len(first) > 1:
                (a, pa), (b, pb) = list(first.items())[:2]
                raise ValueError(f"runs of different {what}: {pa} has {key} {a}, {pb} has "
                                 f"{key} {b}; make every run with one version of the suite")
    expected = case_set(cases_dir)
    sets: dict[str, Path] = {}
    for run in runs:
        if run.header.get("case_set") is not None:
            sets.setdefault(str(run.header["case_set"]), run.path)
    if len(sets) > 1:
        (a, pa), (b, pb) = list(sets.items())[:2]
        raise ValueError(f"runs of different case sets: {pa} ran case set {a}, {pb} ran {b}; "
                         "make every run from one `conformance generate`")
    for value, path in sets.items():
        if value != expected:
            raise ValueError(f"runs of different case sets: {path} ran case set {value}, but "
                             f"--cases {cases_dir} is {expected}; pass the cases the runs "
                             "were made from")
