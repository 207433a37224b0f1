"""Which environment a package pin belongs to, and that environment's packages with a new pin.

Used by ``nox -s upgrade -- <package>==<version>``; it imports nothing heavy
because nox loads it before any virtualenv exists.
"""

from __future__ import annotations

import re

from conformance.environments import ENVIRONMENTS, Environment

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([0-9][0-9A-Za-z.+!-]*)\s*$")


def normalize(name: str) -> str:
    """PEP 503 name: ``TF_Keras`` and ``tf-keras`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pin(pin: str) -> tuple[str, str]:
    m = _PIN.match(pin)
    if m is None:
        raise ValueError(f"{pin!r}: expected <package>==<version>, e.g. keras==3.13.2")
    return normalize(m.group(1)), m.group(2)


def pinned_name(requirement: str) -> str:
    return normalize(re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0])


def find_environment(package: str, base: tuple[str, ...] = ()) -> Environment:
    """The environment whose adapters the package drives.

    An environment named by a framework it runs wins (``numpy`` is the oracle's
    environment even though MXNet's also pins numpy); otherwise the one that
    pins the package. ``base`` is the orchestration env's packages, which the
    numpy environment runs on.
    """
    name = normalize(package)
    for env in ENVIRONMENTS:
        if name in {normalize(f) for f in env.frameworks}:
            return env
    hits = [env for env in ENVIRONMENTS
            if name in {pinned_name(p) for p in (env.packages or base)}]
    if len(hits) != 1:
        known = sorted({pinned_name(p) for e in ENVIRONMENTS for p in e.packages})
        raise ValueError(f"{package}: pinned by {len(hits)} environments; "
                         f"known packages: {', '.join(known)}")
    return hits[0]


def current_packages(env: Environment, base: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What the env installs; the numpy env has no pins of its own and runs on ``base``."""
    return env.packages or tuple(p for p in base if pinned_name(p) == "numpy")


def candidate_packages(env: Environment, pin: str, base: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The env's packages with ``pin`` replacing the same package's pin (or added)."""
    name, version = parse_pin(pin)
    current = current_packages(env, base)
    out = tuple(f"{name}=={version}" if pinned_name(p) == name else p for p in current)
    return out if any(pinned_name(p) == name for p in current) else (*out, f"{name}=={version}")
