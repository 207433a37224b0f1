"""ONNX Runtime: one-node ``BatchNormalization`` and ``Dropout`` models, and the
``torch.onnx.export`` path.

One-node models are built with ``onnx.helper`` at the opsets users meet and run in an
``InferenceSession`` on CPU. Each (opset, mode) is its own row:

* ``onnx.BatchNormalization[opset=N,training_mode=1]`` (``[opset=9,outputs=5]``: opset 9
  selects training by asking for the five outputs, it has no ``training_mode``): a
  training step is one run of the training-mode node; its ``running_mean`` and
  ``running_var`` outputs are fed back as the next step's ``input_mean`` / ``input_var``,
  the way a training loop threads them. Inference (``y_eval``) is the same node on the
  evaluation batch: a training-mode node has no other mode.
* ``onnx.BatchNormalization[opset=N]`` (``training_mode=0``, the default): the same
  training-mode steps (ONNX has no other way to produce the statistics), then the
  inference-mode node of the same opset fed with the final running statistics, as a
  model exported for inference is.
* ``onnx.Dropout[opset=N]``: ``ratio`` and ``training_mode`` are inputs; ``y_train`` runs
  with ``training_mode=True``, ``y_eval`` with ``False``. The ``mask`` output is checked
  against the output (an element is kept where the output is not 0): a disagreement is
  an error, never hidden.

ONNX stores ``momentum`` and ``epsilon`` as float32 attributes; that rounding reaches the
arithmetic on float64 inputs and is measured (``momentum_precision``,
``epsilon_precision``), not corrected. Running statistics start at 0 and 1.

The export rows run what ``torch.onnx.export`` writes, as users deploy it:

* ``torch.onnx.export(BatchNorm2d)[training=TRAINING]->onnxruntime`` (the default
  exporter, ``dynamo=True``) and ``[dynamo=False,training=TRAINING]`` (the TorchScript
  exporter): a fresh module in ``train()`` mode, exported once (example input
  ``train[0]``) with ``training=TrainingMode.TRAINING``; every training batch and the
  evaluation batch run through the exported graph. The graph returns no running
  statistics, so there are no ``running_mean`` / ``running_var`` outputs;
  ``mean_after_forward`` is the running mean stored in the graph (the initializer feeding
  the node), which shows whether exporting ran a training-mode forward on the example.
* ``torch.onnx.export(BatchNorm2d)[training=EVAL]->onnxruntime``: the path users take
  from a trained model: trained in PyTorch (forward and backward, as the torch adapter
  does), then ``eval()`` and exported; ``y_train`` and the running statistics are
  PyTorch's, ``y_eval`` is the exported graph's in ONNX Runtime.
* ``torch.onnx.export(Dropout)[training=TRAINING|EVAL]->onnxruntime``: the TRAINING row
  runs the train-mode export for both outputs (what a deployed train-mode export does at
  inference); the EVAL row takes ``y_train`` from PyTorch's own dropout and ``y_eval`` from
  the eval-mode export.

The torch module's defaults (momentum 0.1, eps 1e-5) are the export rows' documented
defaults (``torch.nn.BatchNorm2d``'s signature); ``conformance/claims/onnxruntime.toml``
quotes what PyTorch documents for the module, so the report says where the exported graph
departs from it.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.adapters.base import (
    Adapter,
    DocClaim,
    Implementation,
    Outputs,
    hyperparameter_kwargs,
)
from conformance.adapters.documented import (
    format_number,
    hyperparameter_defaults,
    resolve,
    verified_claims,
)
from conformance.adapters.onnx_export import export_key, registry_built_once, stored
from conformance.cases.model import Case

BN_OPSETS = (9, 14, 15)
DROPOUT_OPSETS = (12, 13)
IR_VERSION = 8  # accepted by onnxruntime 1.32 for every opset used here

def _onnx() -> Any:
    import onnx

    return onnx


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def _elem_type(dtype: str) -> int:
    tp = _onnx().TensorProto
    return int({"float16": tp.FLOAT16, "float32": tp.FLOAT, "float64": tp.DOUBLE,
                "bfloat16": tp.BFLOAT16}[dtype])


def _as_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """The case's array in its dtype (bfloat16 arrives as float32 holding exact values)."""
    if dtype == "bfloat16":
        import ml_dtypes

        return np.ascontiguousarray(a, dtype=np.float32).astype(ml_dtypes.bfloat16)
    return np.ascontiguousarray(a, dtype=np.dtype(dtype))


def _f64(a: Any) -> np.ndarray:
    return np.array(np.asarray(a).astype(np.float64), copy=True)


_SESSIONS: dict[bytes, Any] = {}


def _session(model: Any) -> Any:
    """An InferenceSession on CPU, one thread (frameworks run side by side), cached by
    the serialized model: cases repeat the same few nodes."""
    data = model.SerializeToString()
    sess = _SESSIONS.get(data)
    if sess is None:
        ort = _ort()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        _SESSIONS[data] = sess
    return sess


def _model(node: Any, inputs: Sequence[tuple[str, int]], outputs: Sequence[tuple[str, int]],
           opset: int) -> Any:
    helper = _onnx().helper
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, t, None) for n, t in inputs],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR_VERSION
    return model


class OnnxBatchNorm(Implementation):
    """``BatchNormalization`` at one opset; ``training`` selects the training-mode row."""

    def __init__(self, opset: int, training: bool) -> None:
        mode = ("outputs=5" if opset == 9 else "training_mode=1") if training else ""
        qualifier = f"opset={opset}" + (f",{mode}" if mode else "")
        super().__init__(f"onnx.BatchNormalization[{qualifier}]", "batchnorm")
        self.opset, self.training = opset, training

    def supports(self, case: Case) -> str | None:
        if case.channel_axis != 1:
            return "BatchNormalization takes channels at dim 1 (N x C x D1 ... Dn)"
        if case.get("momentum") == "none":
            return "BatchNormalization's momentum is a float; no cumulative average"
        return None

    def _node(self, case: Case, training: bool) -> Any:
        t = _elem_type(case.dtype)
        attrs: dict[str, Any] = dict(hyperparameter_kwargs(case, "ONNX BatchNormalization"))
        outs = ["y"]
        if training:
            outs += ["rm", "rv"] + (["sm", "sv"] if self.opset == 9 else [])
        if self.opset >= 14:
            attrs["training_mode"] = int(training)
        elif not training:
            attrs.pop("momentum", None)  # unused in inference; kept out of the test-mode node
        node = _onnx().helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], outs,
                                        **attrs)
        return _session(_model(node, [(n, t) for n in ("x", "s", "b", "m", "v")],
                               [(o, t) for o in outs], self.opset))

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        dt = case.dtype
        feeds = {"s": _as_dtype(inputs["gamma"], dt), "b": _as_dtype(inputs["beta"], dt)}
        rm = _as_dtype(np.zeros(case.channels), dt)
        rv = _as_dtype(np.ones(case.channels), dt)
        train_sess = self._node(case, True)
        ys, rms, rvs = [], [], []
        for x in inputs["train"]:
            y, rm, rv = train_sess.run(None, {**feeds, "x": _as_dtype(x, dt), "m": rm,
                                              "v": rv})[:3]
            ys.append(_f64(y))
            rms.append(_f64(rm))
            rvs.append(_f64(rv))
        eval_sess = train_sess if self.training else self._node(case, False)
        y_eval = eval_sess.run(None, {**feeds, "x": _as_dtype(inputs["eval"], dt), "m": rm,
                                      "v": rv})[0]
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs), "y_eval": _f64(y_eval),
                "mean_after_forward": rms[0]}


class OnnxDropout(Implementation):
    """``Dropout`` (opset 12 and later: ``ratio`` and ``training_mode`` inputs)."""

    def __init__(self, opset: int, adapter: OnnxRuntimeAdapter) -> None:
        super().__init__(f"onnx.Dropout[opset={opset}]", "dropout")
        self.opset, self.adapter = opset, adapter

    def supports(self, case: Case) -> str | None:
        if case.get("noise_shape") is not None:
            return "ONNX Dropout has no noise_shape (mask broadcasting)"
        return None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        onnx = _onnx()
        t = _elem_type(case.dtype)
        # The node's seed attribute: one per case, so a rerun draws the same mask.
        node = onnx.helper.make_node("Dropout", ["x", "ratio", "training_mode"],
                                     ["y", "mask"], seed=self.adapter.case_seed)
        sess = _session(_model(node, [("x", t), ("ratio", onnx.TensorProto.FLOAT),
                                      ("training_mode", onnx.TensorProto.BOOL)],
                               [("y", t), ("mask", onnx.TensorProto.BOOL)], self.opset))
        x = _as_dtype(inputs["x"], case.dtype)
        ratio = np.array(float(case.get("rate")), dtype=np.float32)  # type: ignore[arg-type]
        out: Outputs = {}
        for key, training in (("y_train", True), ("y_eval", False)):
            y, mask = sess.run(None, {"x": x, "ratio": ratio,
                                      "training_mode": np.array(training)})
            y = _f64(y)
            disagree = int(np.count_nonzero(np.asarray(mask, dtype=bool) != (y != 0)))
            if disagree:
                raise RuntimeError(f"Dropout's mask output disagrees with its output "
                                   f"(kept where not 0) at {disagree} of {y.size} elements "
                                   f"(training_mode={training})")
            out[key] = y
        return out


# --- the export path ------------------------------------------------------------------

def _torch() -> Any:
    import torch

    return torch


def _export(module: Any, example: Any, training: bool, dynamo: bool) -> Any:
    """``torch.onnx.export`` as users call it, its progress printing kept off stdout
    (the worker's record stream); what an earlier run exported from the same module,
    example and versions is read back instead (``onnx_export.stored``)."""
    torch, onnx = _torch(), _onnx()
    mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
    import warnings

    def export() -> bytes:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings(), \
                registry_built_once():
            warnings.simplefilter("ignore")  # deprecation notices of the training= option
            if dynamo:
                program = torch.onnx.export(module, (example,), dynamo=True, training=mode,
                                            verbose=False)
                return bytes(program.model_proto.SerializeToString())
            buf = io.BytesIO()
            torch.onnx.export(module, (example,), buf, dynamo=False, training=mode)
            return buf.getvalue()

    return onnx.load_from_string(stored(export_key(module, example, training, dynamo),
                                        export))


def _run_graph(model: Any, x: np.ndarray) -> np.ndarray:
    sess = _session(model)
    return _f64(sess.run(None, {sess.get_inputs()[0].name: x})[0])


def _stored_statistics(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The running statistics an exported graph holds: the initializers (or constants)
    feeding BatchNormalization's ``input_mean`` and ``input_var``."""
    onnx = _onnx()
    values = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            values[n.output[0]] = onnx.numpy_helper.to_array(n.attribute[0].t)
    for n in model.graph.node:
        if (n.op_type == "BatchNormalization" and len(n.input) >= 5
                and n.input[3] in values and n.input[4] in values):
            return _f64(values[n.input[3]]), _f64(values[n.input[4]])
    return None


def _torch_dtype(case: Case) -> Any:
    return getattr(_torch(), case.dtype)


def _from_torch(t: Any) -> np.ndarray:
    t = t.detach()
    if t.dtype == _torch().bfloat16:  # NumPy has no bfloat16: float32 holds it exactly
        t = t.float()
    return _f64(t.numpy())


def _torch_in(a: np.ndarray, case: Case) -> Any:
    return _torch().from_numpy(np.ascontiguousarray(a)).to(_torch_dtype(case))


class ExportedBatchNorm(Implementation):
    """``torch.nn.BatchNorm2d`` exported with ``torch.onnx.export`` and run in ORT."""

    def __init__(self, training: bool, dynamo: bool = True) -> None:
        mode = "TRAINING" if training else "EVAL"
        qualifier = f"training={mode}" if dynamo else f"dynamo=False,training={mode}"
        super().__init__(f"torch.onnx.export(BatchNorm2d)[{qualifier}]->onnxruntime",
                         "batchnorm")
        self.training, self.dynamo = training, dynamo

    def supports(self, case: Case) -> str | None:
        if case.channel_axis != 1 or len(case.shape) != 4:
            return "torch.nn.BatchNorm2d takes rank-4 input with channels at dim 1"
        if case.get("momentum") == "none" and self.training:
            return "momentum=None (cumulative average) has no ONNX attribute"
        return None

    def _module(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Any:
        torch = _torch()
        from conformance.adapters.pytorch import torch_hyperparameters

        momentum, epsilon = case.get("momentum"), case.get("epsilon")
        kwargs = torch_hyperparameters(momentum, epsilon)  # type: ignore[arg-type]
        m = torch.nn.BatchNorm2d(case.channels, **kwargs).to(_torch_dtype(case))
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(np.asarray(inputs["gamma"])))
            m.bias.copy_(torch.from_numpy(np.asarray(inputs["beta"])))
        return m

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        torch = _torch()
        m = self._module(case, inputs)
        train = inputs["train"]
        dt = case.dtype
        if self.training:
            m.train()
            graph = _export(m, _torch_in(train[0], case), True, self.dynamo)
            ys = [_run_graph(graph, _as_dtype(x, dt)) for x in train]
            out: Outputs = {"y_train": np.stack(ys),
                            "y_eval": _run_graph(graph, _as_dtype(inputs["eval"], dt))}
            stored = _stored_statistics(graph)
            if stored is not None:
                out["mean_after_forward"] = stored[0]
            return out
        ys, rms, rvs = [], [], []
        for x in train:  # PyTorch's own training steps: forward in train mode, backward
            m.train()
            y = m(_torch_in(x, case).requires_grad_(True))
            y.sum().backward()
            ys.append(_from_torch(y))
            rms.append(_from_torch(m.running_mean))
            rvs.append(_from_torch(m.running_var))
        m.eval()
        with torch.no_grad():
            graph = _export(m, _torch_in(inputs["eval"], case), False, self.dynamo)
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs),
                "y_eval": _run_graph(graph, _as_dtype(inputs["eval"], dt))}


class ExportedDropout(Implementation):
    """``torch.nn.Dropout`` exported with ``torch.onnx.export`` and run in ORT."""

    def __init__(self, training: bool) -> None:
        mode = "TRAINING" if training else "EVAL"
        super().__init__(f"torch.onnx.export(Dropout)[training={mode}]->onnxruntime",
                         "dropout")
        self.training = training

    def supports(self, case: Case) -> str | None:
        if case.get("noise_shape") is not None:
            return "torch dropout has no noise_shape (mask broadcasting)"
        return None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        torch = _torch()
        p = float(case.get("rate"))  # type: ignore[arg-type]
        x_np = _as_dtype(inputs["x"], case.dtype)
        x = _torch_in(inputs["x"], case)
        m = torch.nn.Dropout(p)
        if self.training:
            graph = _export(m.train(), x, True, True)
            return {"y_train": _run_graph(graph, x_np), "y_eval": _run_graph(graph, x_np)}
        y_train = _from_torch(m.train()(x))
        graph = _export(m.eval(), x, False, True)
        return {"y_train": y_train, "y_eval": _run_graph(graph, x_np)}


# --- documentation ----------------------------------------------------------------------

class _Doc:
    """Stands for an ONNX operator schema where a claim names a docstring: the schema's
    text, its inputs' and attributes' descriptions (the Operators.md page is built from
    the same strings)."""

    def __init__(self, text: str) -> None:
        self.__doc__ = text


def schema_resolver(dotted: str) -> Any:
    """``onnx.defs.<Op>.<opset>`` resolves to that schema's documentation; anything else
    as a dotted Python name."""
    parts = dotted.split(".")
    if len(parts) == 4 and parts[:2] == ["onnx", "defs"] and parts[3].isdigit():
        schema = _onnx().defs.get_schema(parts[2], int(parts[3]))
        texts = [schema.doc]
        texts += [f"{i.name}: {i.description}" for i in schema.inputs]
        texts += [f"{o.name}: {o.description}" for o in schema.outputs]
        texts += [f"{k}: {a.description}" for k, a in sorted(schema.attributes.items())]
        return _Doc("\n".join(texts))
    return resolve(dotted)


def _attribute_default(op: str, opset: int, attribute: str) -> float | None:
    schema = _onnx().defs.get_schema(op, opset)
    attr = schema.attributes.get(attribute)
    if attr is None or not attr.default_value.name:
        return None
    return float(attr.default_value.f)


class OnnxRuntimeAdapter(Adapter):
    framework = "onnxruntime"

    def __init__(self) -> None:
        self.case_seed = 0
        self._impls: list[Implementation] | None = None

    def load(self) -> None:
        _onnx()
        _ort()
        torch = _torch()
        torch.set_num_threads(1)

    def version(self) -> str:
        return str(_ort().__version__)

    def implementations(self) -> Sequence[Implementation]:
        if self._impls is None:
            impls: list[Implementation] = []
            for opset in BN_OPSETS:
                impls += [OnnxBatchNorm(opset, False), OnnxBatchNorm(opset, True)]
            impls += [OnnxDropout(opset, self) for opset in DROPOUT_OPSETS]
            impls += [ExportedBatchNorm(False), ExportedBatchNorm(True),
                      ExportedBatchNorm(True, dynamo=False),
                      ExportedDropout(False), ExportedDropout(True)]
            self._impls = impls
        return self._impls

    def documented(self) -> list[DocClaim]:
        claims: list[DocClaim] = []
        for impl in self.implementations():
            if not isinstance(impl, OnnxBatchNorm):
                continue
            for attribute, behaviour in (("momentum", "momentum_default"),
                                         ("epsilon", "epsilon_default")):
                value = _attribute_default("BatchNormalization", impl.opset, attribute)
                if value is None:
                    continue
                # The schema holds the default as a float32 attribute: 0.9 reads back as
                # 0.8999999761581421; the documented text is the decimal it was written as.
                text = format_number(value)
                claims.append(DocClaim(
                    impl.name, behaviour, text,
                    f"onnx.defs.get_schema('BatchNormalization', {impl.opset})"
                    f".attributes['{attribute}'].default_value",
                    f"{attribute}={text}", True))
        # The export rows: the module users export documents its defaults in its signature.
        bn2d = _torch().nn.BatchNorm2d
        for impl in self.implementations():
            if isinstance(impl, ExportedBatchNorm):
                claims += hyperparameter_defaults(impl.name, bn2d, epsilon="eps")
        return claims + verified_claims("onnxruntime", schema_resolver)

    def seed(self, seed: int) -> None:
        """The one-node Dropout gets the seed as its attribute; exported Dropout nodes carry
        none, so ORT's default generator is seeded too (reruns draw the same masks)."""
        self.case_seed = seed
        _ort().set_seed(seed)
        _torch().manual_seed(seed)

    def environment(self) -> dict[str, str]:
        onnx, torch = _onnx(), _torch()
        return {"device": "cpu", "onnx": str(onnx.__version__),
                "torch": str(torch.__version__),
                "providers": ",".join(_ort().get_available_providers())}

