"""Which environment an upgrade pin belongs to, and the candidate's package list."""

from __future__ import annotations

import pytest

from conformance.environments import ENV_BY_NAME
from conformance.upgrade import (
    candidate_packages,
    current_packages,
    environment_of_pins,
    parse_pin,
)

BASE = ("numpy==2.4.6", "pandas>=2.2")


@pytest.mark.parametrize(("pin", "env"), [
    ("numpy==2.3.5", "numpy"), ("keras==3.13.2", "tensorflow"),
    ("tensorflow-cpu==2.20.0", "tensorflow"), ("TF_Keras==2.20.1", "tensorflow"),
    ("mxnet==1.9.0", "mxnet"), ("torch==2.12.0", "torch"),
    ("keras_jax:keras==3.16.0", "keras_jax"), ("keras_torch:keras==3.16.0", "keras_torch"),
    ("keras_jax:jax==0.10.3", "keras_jax"), ("flax:jax==0.10.3", "flax"),
])
def test_pin_finds_its_environment(pin: str, env: str) -> None:
    assert environment_of_pins([pin], BASE).name == env


def test_candidate_replaces_the_pin_and_keeps_the_rest() -> None:
    tf = ENV_BY_NAME["tensorflow"]
    got = candidate_packages(tf.packages, ["tensorflow-cpu==2.20.0", "tf_keras==2.20.1"])
    assert got[0] == "tensorflow-cpu==2.20.0" and got[1] == "tf-keras==2.20.1"
    assert got[2:] == tf.packages[2:]
    numpy_env = ENV_BY_NAME["numpy"]
    assert current_packages(numpy_env, BASE) == ("numpy==2.4.6",)
    assert candidate_packages(current_packages(numpy_env, BASE), ["numpy==2.3.5"]) == (
        "numpy==2.3.5",)


@pytest.mark.parametrize(("pins", "message"), [
    ([], "at least one"), (["keras>=3"], "expected <package>==<version>"),
    (["keras==3.13.2", "torch==2.12.0"], "several environments"),
    (["leftpad==1.0"], "pinned by 0 environments"),
    (["jax==0.10.3"], r"pinned by 2 environments \(flax, keras_jax\); name one as <env>:<pin>"),
    (["keras_jax:torch==2.12.0"], "does not pin torch"), (["nope:keras==3.16.0"], "no environment"),
])
def test_bad_pins_are_errors(pins: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        environment_of_pins(pins, BASE)


def test_parse_pin_normalizes() -> None:
    assert parse_pin(" Tf_Keras == 2.20.1 ") == ("tf-keras", "2.20.1")


def test_an_env_qualified_pin_replaces_only_the_package() -> None:
    env = environment_of_pins(["keras_jax:keras==3.16.0"], BASE)
    assert candidate_packages(env.packages, ["keras_jax:keras==3.16.0"])[0] == "keras==3.16.0"
