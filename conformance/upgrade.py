"""Which environment a package pin belongs to, and that environment's packages with a new pin.

Used by ``nox -s upgrade -- <package>==<version>``; it imports nothing heavy
because nox loads it before any virtualenv exists. A package several environments pin
(``keras`` for the three Keras backends, ``jax`` for Flax and Keras-on-JAX) goes to the
environment of the framework named after it, or is named with its environment:
``keras_jax:keras==3.16.0`` upgrades Keras on the JAX backend only.
"""

from __future__ import annotations

import re

from conformance.environments import ENV_BY_NAME, ENVIRONMENTS, Environment

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([0-9][0-9A-Za-z.+!-]*)\s*$")


def normalize(name: str) -> str:
    """PEP 503 name: ``TF_Keras`` and ``tf-keras`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def split_env(pin: str) -> tuple[str | None, str]:
    """``("keras_jax", "keras==3.16.0")`` for ``keras_jax:keras==3.16.0``; ``(None, pin)``
    for a pin without an environment."""
    env, sep, rest = pin.partition(":")
    return (env.strip(), rest) if sep else (None, pin)


def parse_pin(pin: str) -> tuple[str, str]:
    m = _PIN.match(split_env(pin)[1])
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
        if hits:
            names = ", ".join(sorted(e.name for e in hits))
            raise ValueError(f"{package}: pinned by {len(hits)} environments ({names}); "
                             f"name one as <env>:<pin>, e.g. {hits[0].name}:{package}==...")
        raise ValueError(f"{package}: pinned by 0 environments; "
                         f"known packages: {', '.join(known)}")
    return hits[0]


def current_packages(env: Environment, base: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What the env installs; the numpy env has no pins of its own and runs on ``base``."""
    return env.packages or tuple(p for p in base if pinned_name(p) == "numpy")


def candidate_packages(current: tuple[str, ...], pins: list[str]) -> tuple[str, ...]:
    """``current`` with each pin replacing the same package's pin (or added)."""
    out = list(current)
    for pin in pins:
        name, version = parse_pin(pin)
        hits = [i for i, p in enumerate(out) if pinned_name(p) == name]
        for i in hits:
            out[i] = f"{name}=={version}"
        if not hits:
            out.append(f"{name}=={version}")
    return tuple(out)


def environment_of_pins(pins: list[str], base: tuple[str, ...] = ()) -> Environment:
    """The one environment all ``pins`` belong to (an upgrade changes one env at a time)."""
    if not pins:
        raise ValueError("name at least one <package>==<version>, e.g. keras==3.13.2")
    envs = {_environment_of_pin(p, base) for p in pins}
    if len(envs) != 1:
        raise ValueError(f"{', '.join(pins)}: pins of several environments "
                         f"({', '.join(sorted(e.name for e in envs))}); upgrade one at a time")
    return envs.pop()


def _environment_of_pin(pin: str, base: tuple[str, ...]) -> Environment:
    env_name, _ = split_env(pin)
    name = parse_pin(pin)[0]
    if env_name is None:
        return find_environment(name, base)
    env = ENV_BY_NAME.get(env_name)
    if env is None:
        raise ValueError(f"{pin}: no environment {env_name!r}; known: {', '.join(ENV_BY_NAME)}")
    if name not in {pinned_name(p) for p in current_packages(env, base)}:
        raise ValueError(f"{pin}: environment {env_name} does not pin {name}")
    return env
