"""A small CNN written the way users write it in each framework, for the real-model port.

Run as a script in one framework's environment (the test drives every environment by
subprocess; this file imports no framework at module level):

    python port_model.py train-torch OUT_DIR          # train, save model.pt and predictions
    python port_model.py predict-<target> OUT_DIR PORT_JSON WEIGHTS_NPZ

Architecture: Conv2d(3, 8, 3, padding=1) -> BatchNorm2d -> ReLU -> Conv2d(8, 16, 3,
padding=1) -> BatchNorm2d -> ReLU -> Dropout(0.25) -> global average pool -> Linear(16, 4).
The global pool (rather than a flatten) keeps the classifier's input free of the NCHW/NHWC
ordering, so the only layout changes are the kernels' (``conformance.port.layout``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

CHANNELS = (3, 8, 16)
CLASSES = 4


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261128)
    train = rng.normal(0.5, 2.0, size=(6, 16, 3, 8, 8)).astype(np.float32)
    labels = rng.integers(0, CLASSES, size=(6, 16))
    held_out = rng.normal(0.5, 2.0, size=(32, 3, 8, 8)).astype(np.float32)
    return train, labels, held_out


def train_torch(out: Path) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Net(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.bn2 = nn.BatchNorm2d(16)
            self.drop = nn.Dropout(0.25)
            self.fc = nn.Linear(16, CLASSES)

        def forward(self, x: Any) -> Any:
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.drop(torch.relu(self.bn2(self.conv2(x))))
            return self.fc(x.mean(dim=(2, 3)))

    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    train, labels, held_out = _data()
    net.train()
    for x, y in zip(train, labels, strict=True):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
    net.eval()
    torch.save(net.state_dict(), out / "model.pt")
    with torch.no_grad():
        logits = net(torch.from_numpy(held_out)).numpy()
    np.savez(out / "torch_predictions.npz", x=held_out, logits=logits)


def _bn_args(port: dict[str, Any]) -> dict[str, float]:
    """Momentum and epsilon exactly as ``conformance port`` translated them."""
    args = port["arguments"]
    names = {"eps": "epsilon"}
    return {names.get(k, k): v for k, v in args.items() if k in ("momentum", "epsilon", "eps")}


def predict_keras(module: Any, out: Path, port: dict[str, Any], weights: dict[str, Any]
                  ) -> np.ndarray:
    """Keras 3 or tf_keras: channels last, kernels as the port laid them out."""
    layers = module.layers
    bn = _bn_args(port)
    model = module.Sequential([
        module.Input(shape=(8, 8, 3)),
        layers.Conv2D(8, 3, padding="same", name="conv1"),
        layers.BatchNormalization(name="bn1", **bn), layers.ReLU(),
        layers.Conv2D(16, 3, padding="same", name="conv2"),
        layers.BatchNormalization(name="bn2", **bn), layers.ReLU(),
        layers.Dropout(0.25), layers.GlobalAveragePooling2D(),
        layers.Dense(CLASSES, name="fc")])
    for layer in model.layers:
        names = [v.name.rsplit("/", 1)[-1].split(":")[0] for v in layer.weights]
        if names:
            layer.set_weights([weights[f"{layer.name}/{n}"] for n in names])
    x = np.load(out / "torch_predictions.npz")["x"].transpose(0, 2, 3, 1)
    return np.asarray(model.predict(x, verbose=0))


def predict_mxnet(out: Path, port: dict[str, Any], weights: dict[str, Any]) -> np.ndarray:
    import mxnet as mx
    from mxnet.gluon import nn

    bn = _bn_args(port)

    class Net(nn.Block):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            with self.name_scope():
                self.conv1 = nn.Conv2D(8, 3, padding=1, in_channels=3)
                self.bn1 = nn.BatchNorm(in_channels=8, **bn)
                self.conv2 = nn.Conv2D(16, 3, padding=1, in_channels=8)
                self.bn2 = nn.BatchNorm(in_channels=16, **bn)
                self.drop = nn.Dropout(0.25)
                self.fc = nn.Dense(CLASSES, in_units=16)

        def forward(self, x: Any) -> Any:
            x = mx.nd.relu(self.bn1(self.conv1(x)))
            x = self.drop(mx.nd.relu(self.bn2(self.conv2(x))))
            return self.fc(x.mean(axis=(2, 3)))

    net = Net()
    net.initialize()
    for key, param in net._collect_params_with_prefix().items():
        prefix, _, leaf = key.rpartition(".")
        param.set_data(mx.nd.array(weights[f"{prefix}/{leaf}"]))
    x = np.load(out / "torch_predictions.npz")["x"]
    return np.asarray(net(mx.nd.array(x)).asnumpy())


def main(argv: list[str]) -> None:
    mode, out = argv[0], Path(argv[1])
    if mode == "train-torch":
        train_torch(out)
        return
    port = json.loads(Path(argv[2]).read_text())
    with np.load(argv[3], allow_pickle=False) as z:
        weights = {k: z[k] for k in z.files}
    if mode == "predict-keras":
        import keras

        logits = predict_keras(keras, out, port, weights)
    elif mode == "predict-tf_keras":
        import tf_keras

        logits = predict_keras(tf_keras, out, port, weights)
    elif mode == "predict-mxnet":
        logits = predict_mxnet(out, port, weights)
    else:
        raise SystemExit(f"unknown mode {mode}")
    np.save(out / f"{mode}.npy", logits)


if __name__ == "__main__":
    main(sys.argv[1:])
