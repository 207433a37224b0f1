"""Framework environments: which packages each nox virtualenv gets and which adapters run in it.

This is the one list of implementations' homes; ``noxfile.py``, the CLI and the
tests read it. It imports nothing heavy, so nox can load it without numpy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Environment:
    name: str
    python: str
    packages: tuple[str, ...]
    frameworks: tuple[str, ...]


ENVIRONMENTS: tuple[Environment, ...] = (
    Environment("numpy", "3.11", (), ("numpy",)),
    Environment("torch", "3.11", ("torch==2.13.0",), ("torch",)),
    Environment(
        "tensorflow", "3.11",
        ("tensorflow-cpu==2.21.0", "tf-keras==2.21.0", "keras==3.15.1"),
        ("keras", "tf_keras", "tensorflow"),
    ),
    # Keras 3 on JAX and on PyTorch: Keras picks its backend at import, so each backend
    # is its own environment and worker (KERAS_BACKEND is set by the adapter's load()).
    Environment("keras_jax", "3.11", ("keras==3.15.1", "jax==0.10.2", "jaxlib==0.10.2"),
                ("keras_jax",)),
    Environment("keras_torch", "3.11", ("keras==3.15.1", "torch==2.13.0"), ("keras_torch",)),
    # MXNet 1.9.1 imports only with numpy < 1.24 (it uses the removed np.bool alias).
    Environment("mxnet", "3.11", ("mxnet==1.9.1", "numpy==1.23.5"), ("mxnet",)),
    # JAX on CPU (the plain jax wheel with its CPU jaxlib); flax pulls optax and orbax.
    Environment("flax", "3.11", ("jax==0.10.2", "jaxlib==0.10.2", "flax==0.12.8"), ("flax",)),
    # torch (CPU) and onnxscript serve the torch.onnx.export rows: torch 2.13's default
    # exporter (dynamo=True) imports onnxscript. ml_dtypes feeds bfloat16 arrays.
    Environment(
        "onnx", "3.11",
        ("onnx==1.23.2", "onnxruntime==1.32.0", "torch==2.13.0", "onnxscript==0.7.2",
         "ml_dtypes==0.6.0"),
        ("onnxruntime",),
    ),
    # PaddlePaddle's CPU wheel (cp311); it requires numpy>=1.21, and
    # paddle.utils.cpp_extension imports setuptools at import time (uv venvs have none).
    Environment("paddle", "3.11", ("paddlepaddle==3.3.1", "setuptools==65.5.0"), ("paddle",)),
)

ENV_BY_NAME: dict[str, Environment] = {e.name: e for e in ENVIRONMENTS}

# Adapter classes by framework, as "module:Class", imported only inside their environment.
ADAPTERS: dict[str, str] = {
    "numpy": "conformance.adapters.numpy_ref:NumpyAdapter",
    "torch": "conformance.adapters.pytorch:TorchAdapter",
    "keras": "conformance.adapters.keras3:KerasAdapter",
    "keras_jax": "conformance.adapters.keras3:KerasJaxAdapter",
    "keras_torch": "conformance.adapters.keras3:KerasTorchAdapter",
    "tf_keras": "conformance.adapters.tfkeras:TfKerasAdapter",
    "tensorflow": "conformance.adapters.tfops:TensorflowAdapter",
    "mxnet": "conformance.adapters.mxnet1:MxnetAdapter",
    "flax": "conformance.adapters.flax_adapter:FlaxAdapter",
    "onnxruntime": "conformance.adapters.onnxrt:OnnxRuntimeAdapter",
    "paddle": "conformance.adapters.paddle_adapter:PaddleAdapter",
}


def environment_of(framework: str) -> Environment:
    for env in ENVIRONMENTS:
        if framework in env.frameworks:
            return env
    raise ValueError(f"unknown framework {framework!r}; known: {', '.join(ADAPTERS)}")
