"""A Keras 3 model carried into a hand-written NumPy predictor by its convention card.

Issue 11, item 4b: train a small model the way people write it (Dense, BatchNormalization,
Dropout, ``fit``), export its weights, and predict with NumPy from the exported weights and
the keras card alone. The card is not typed in: the keras worker runs a few batch-norm and
dropout cases here, and ``conformance report`` writes the card file this test reads. The
batch-norm step is the oracle's own ``inference``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.oracle import batchnorm as bn
from conformance.report import cards

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.framework("tensorflow")

BN_LAYER = "keras.layers.BatchNormalization"
DROPOUT_LAYER = "keras.layers.Dropout"
# What the predictor rests on: every one must be earned on the card, or the test stops.
NEEDED = ("epsilon_default", "epsilon_effective", "epsilon_placement", "epsilon_precision",
          "gamma_applied", "inference_statistics")


def _conformance(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, f"conformance {' '.join(args)}:\n{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The keras card, from a real keras run on the epsilon, batch and dropout cases,
    through the pipeline's own commands. The worker runs in its own process, as in every
    run: in this one it would leave Keras's global dtype policy at float64 (the first
    ``dtype_policy()`` call caches ``DTypePolicy(floatx())``, keras/src/dtype_policies/
    dtype_policy.py:577-583, and the worker's float64 rows run under ``set_floatx``), and
    the model below would train in float64."""
    root = tmp_path_factory.mktemp("keras-card")
    cases, runs, reports = (str(root / d) for d in ("cases", "runs", "reports"))
    _conformance("generate", "--out", cases, "--families", "bn_epsilon", "bn_batch", "dropout")
    _conformance("worker", "--framework", "keras", "--cases", cases, "--out", runs)
    _conformance("report", "--runs", runs, "--cases", cases, "--out", reports)
    [path] = (root / "reports" / cards.CARDS_DIR).glob("keras-*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, np.ndarray]:
    """A small classifier trained for a few steps; its weights exported to an .npz."""
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    x = rng.normal(3.0, 2.0, (256, 10)).astype("float32")  # off-centre: BN has work to do
    y = (x[:, :3] @ rng.normal(size=(3, 4)) > 0).astype("float32")
    model = keras.Sequential([
        keras.Input((10,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(16),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(4),  # logits: compared unsquashed, so no difference hides
    ])
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    path = tmp_path_factory.mktemp("keras-model") / "weights.npz"
    np.savez(path, **{f"{layer.name}/{v.name}": np.asarray(v.numpy())
                      for layer in model.layers for v in layer.weights})
    held_out = rng.normal(3.0, 2.0, (64, 10)).astype("float32")
    return model, path, held_out


ACTIVATIONS = {"relu": lambda a: np.maximum(a, 0.0), "linear": lambda a: a}


def predict(x: np.ndarray, weights: dict[str, np.ndarray], layout: list[tuple[str, str, str]],
            bn_entry: dict[str, Any], dropout_entry: dict[str, Any]) -> np.ndarray:
    """The hand-written predictor: the exported weights, the card, and the architecture
    (``layout``: layer name, class, activation, as ``model.get_config()`` lists them)."""
    setting = cards.conventions(bn_entry)
    assert setting.epsilon is not None, "the card measured no default epsilon"
    inference_output = dropout_entry["behaviours"]["inference_output"]["value"]
    h = np.asarray(x, dtype=np.float64)
    for name, kind, activation in layout:
        w = {k.split("/", 1)[1]: v for k, v in weights.items() if k.startswith(name + "/")}
        if kind == "Dense":
            h = h @ w["kernel"] + w["bias"]
        elif kind == "BatchNormalization":  # axis: Keras's default, the last one
            h = bn.inference(h, w["moving_mean"], w["moving_variance"], w["gamma"], w["beta"],
                             setting.epsilon, setting.conv, channel_axis=h.ndim - 1)
        elif kind == "Dropout":  # no weights; at inference it is what the card measured
            assert inference_output == "identity", f"dropout at inference: {inference_output}"
        elif kind != "Activation":
            raise AssertionError(f"the predictor has no {kind} layer")
        h = ACTIVATIONS[activation](h)
    return h


def test_numpy_predictor_from_card_reproduces_model_predict(
        card: dict[str, Any], trained: tuple[Any, Path, np.ndarray]) -> None:
    model, path, x = trained
    bn_entry = cards.find(card, BN_LAYER)
    dropout_entry = cards.find(card, DROPOUT_LAYER, op="dropout")
    earned = cards.measured(bn_entry)
    missing = [b for b in NEEDED if b not in earned]
    assert not missing, f"the keras card left {missing} undecided: {bn_entry['behaviours']}"
    with np.load(path, allow_pickle=False) as f:
        weights = {k: f[k] for k in f.files}
    layout = [(c["config"]["name"], c["class_name"], c["config"].get("activation", "linear"))
              for c in model.get_config()["layers"] if c["class_name"] != "InputLayer"]
    expected = model.predict(x, verbose=0).astype(np.float64)
    assert {str(w.dtype) for w in weights.values()} == {"float32"}, "a float32 model expected"
    got = predict(x, weights, layout, bn_entry, dropout_entry)
    diff = float(np.max(np.abs(got - expected)))
    assert np.ptp(expected) > 1.0, "the model's outputs barely vary: nothing was compared"
    print(f"keras -> numpy predictor: max abs difference {diff:.3g} over {expected.size} "
          f"outputs (largest |output| {np.max(np.abs(expected)):.3g}; float32 model, float64 "
          f"predictor); card epsilon "
          f"{bn_entry['behaviours']['epsilon_default']['exact']!r}")
    # float32 rounding of logits of order 10: a few 1e-6 at most.
    assert diff < 1e-4 * max(1.0, float(np.max(np.abs(expected)))), \
        f"NumPy predictor differs from model.predict by {diff:.3g}"
    # The comparison can tell conventions apart: batch statistics instead of the moving
    # ones (what a layer stuck in training mode does) would be far off.
    wrong = dict(bn_entry, behaviours={**bn_entry["behaviours"], "inference_statistics": {
        **bn_entry["behaviours"]["inference_statistics"], "value": "batch"}})
    off = float(np.max(np.abs(predict(x, weights, layout, wrong, dropout_entry)
                              - expected)))
    assert off > 100 * max(diff, 1e-7), f"batch statistics give {off:.3g}, moving {diff:.3g}"
