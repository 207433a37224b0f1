"""A real model carried across: a small CNN trained in PyTorch, its ``state_dict`` ported
with ``conformance port`` to Keras 3, tf_keras and MXNet gluon, and the targets'
predictions on held-out inputs compared with PyTorch's, each target in its own env.

Runs in the ``port`` session (``nox -s tests-port``), which builds env-torch,
env-tensorflow and env-mxnet and passes their interpreters as ``CONFORMANCE_ENV_<NAME>``
(or ``.nox/env-<name>/bin/python`` is used). The measured conventions the port needs come
from fresh batch-norm runs of the four frameworks (``CONFORMANCE_PORT_RUNS`` and
``CONFORMANCE_PORT_CASES`` reuse existing ones).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.framework("port")

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
MODEL = HERE / "port_model.py"
TARGETS = {"keras": ("keras.layers.BatchNormalization", "tensorflow"),
           "tf_keras": ("tf_keras.layers.BatchNormalization", "tensorflow"),
           "mxnet": ("mxnet.gluon.nn.BatchNorm", "mxnet")}
# Each framework's run and its environment, for the measured conventions.
RUNS = {"torch": "torch", "keras": "tensorflow", "tf_keras": "tensorflow", "mxnet": "mxnet"}
# float32 logits of a two-convolution network: summation order may differ by a few ulps.
MAX_REL = 1e-5


def python_of(env: str) -> str:
    found = os.environ.get(f"CONFORMANCE_ENV_{env.upper()}") or str(
        ROOT / ".nox" / f"env-{env}" / "bin" / "python")
    if not Path(found).exists():
        pytest.skip(f"no {env} environment ({found}); nox -s tests-port builds it")
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT,
                          timeout=900, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n" \
                                 f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(runs, cases): the batch-norm families of the four frameworks, run in parallel."""
    if os.environ.get("CONFORMANCE_PORT_RUNS"):
        return (Path(os.environ["CONFORMANCE_PORT_RUNS"]),
                Path(os.environ["CONFORMANCE_PORT_CASES"]))
    work = tmp_path_factory.mktemp("port-runs")
    cases, runs = work / "cases", work / "runs"
    _run([sys.executable, "-m", "conformance", "generate", "--out", str(cases)])
    procs = [subprocess.Popen([python_of(env), "-m", "conformance", "worker", "--framework",
                               fw, "--cases", str(cases), "--out", str(runs), "--filter",
                               "bn_"], env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for fw, env in RUNS.items()]
    for fw, proc in zip(RUNS, procs, strict=True):
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{fw} worker exited {proc.returncode}: {err[-2000:]}"
    return runs, cases


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("port-model")
    _run([python_of("torch"), str(MODEL), "train-torch", str(out)])
    return out


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_torch_cnn_ported_predicts_the_same(target: str, trained: Path,
                                             measured: tuple[Path, Path]) -> None:
    runs, cases = measured
    name, env = TARGETS[target]
    ports = trained / "ports"
    envs = [f"--env={e}={python_of(e)}" for e in ("torch", env)]
    _run([sys.executable, "-m", "conformance", "port", "torch.nn.BatchNorm2d", name,
          "--checkpoint", str(trained / "model.pt"), "--runs", str(runs), "--cases",
          str(cases), "--out", str(ports), *envs])
    stem = f"torch.nn.BatchNorm2d__{name}"
    port = json.loads((ports / f"{stem}.json").read_text())
    assert port["inference"]["grade"] is not None, f"inference port did not run: {port}"
    assert port["inference"]["grade"]["grade"] in ("exact", "float32"), port["inference"]
    _run([python_of(env), str(MODEL), f"predict-{target}", str(trained),
          str(ports / f"{stem}.json"), str(ports / f"{stem}.npz")])
    expected = np.load(trained / "torch_predictions.npz")["logits"]
    got = np.load(trained / f"predict-{target}.npy")
    err = float(np.abs(got - expected).max())
    rel = err / float(np.abs(expected).max())
    figures = (f"torch -> {target}: max abs diff {err:.3g}, relative {rel:.3g}; BN layers: "
               f"inference {port['inference']['text']}; training {port['training']['text']}")
    print(figures)
    (trained / f"figures-{target}.txt").write_text(figures + "\n")
    assert got.shape == expected.shape, f"{target}: logits {got.shape}, torch {expected.shape}"
    assert rel <= MAX_REL, f"{figures} (allowed relative {MAX_REL})"
    assert (got.argmax(1) == expected.argmax(1)).all(), f"{target}: another class predicted"
