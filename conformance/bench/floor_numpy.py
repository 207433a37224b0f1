"""Floor of the numpy row: the oracle's own calls, case by case, nothing else.

The numpy "framework" is the suite's NumPy oracle, so its floor calls
``conformance.oracle`` exactly as the oracle adapter does (two batch-norm
sequences per batch-norm or centering case, one dropout mask per dropout case).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402

from conformance.bench.floor_io import cases, cases_dir_arg, channel_axis, emit  # noqa: E402
from conformance.oracle import batchnorm as bn  # noqa: E402
from conformance.oracle import dropout as do  # noqa: E402

T1 = time.perf_counter()


def _momentum(p: dict[str, object]) -> float | None:
    m = p.get("momentum")
    return 0.1 if m == "default" else None if m == "none" else float(m)  # type: ignore[arg-type]


def main() -> None:
    calls = n = 0
    conv = bn.Conventions(momentum_convention="weight_on_new")
    for record, x in cases(cases_dir_arg()):
        p, n = record["params"], n + 1
        if record["op"] == "dropout":
            noise = p.get("noise_shape")
            rng = np.random.default_rng(record["seed"])
            kept = np.broadcast_to(rng.random(tuple(noise) if noise else x["x"].shape)
                                   >= p["rate"], x["x"].shape)
            do.training_output(x["x"], kept, p["rate"], "inverse_keep")
            do.inference_output(x["x"], p["rate"], "identity")
            calls += 2
            continue
        eps = 1e-5 if p.get("epsilon") == "default" else float(p["epsilon"])
        for train in (x["train"], x["train"][:1]):
            bn.sequence(train, x["eval"], channel_axis(p), x["gamma"], x["beta"],
                        _momentum(p), eps, conv)
            calls += 1
    emit("numpy", T0, T1, calls, n)


if __name__ == "__main__":
    main()
