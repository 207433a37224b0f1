"""The tf_keras adapter against real tf_keras 2.21: every row runs, on the path its name says,
and what it measures is so (including the quirks the report will show)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

import numpy as np
import pytest

# Not importorskip: importing TensorFlow before the adapter's load() would bypass its quiet,
# single-threaded, oneDNN-off set-up (and print C++ log lines).
if importlib.util.find_spec("tf_keras") is None:
    pytest.skip("tf_keras is not installed", allow_module_level=True)

from conformance.adapters.base import Implementation, Outputs
from conformance.adapters.tfkeras import TfKerasAdapter
from conformance.adapters.tfkeras.paths import default_path
from conformance.cases.families import generate, inputs_for
from conformance.cases.model import Case, Tolerance
from conformance.oracle import batchnorm as ob
from conformance.oracle import dropout as od

pytestmark = pytest.mark.framework("tensorflow")

BASE = "tf_keras.layers.BatchNormalization"
DEFAULT_MOMENTUM, DEFAULT_EPS = 0.99, 1e-3
# The fused kernel folds the unbiased batch variance into the moving variance; the
# moments path folds the biased one. Both normalize with the biased variance.
NON_FUSED = ob.Conventions(running_variance_update="biased")
FUSED = ob.Conventions(running_variance_update="unbiased")


@pytest.fixture(scope="module")
def adapter() -> TfKerasAdapter:
    a = TfKerasAdapter()
    a.load()
    return a


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return generate()


def impl(adapter: TfKerasAdapter, name: str, op: str = "batchnorm") -> Implementation:
    return next(i for i in adapter.implementations() if i.name == name and i.op == op)


def run(adapter: TfKerasAdapter, implementation: Implementation, case: Case) -> Outputs:
    adapter.seed(case.seed)
    assert implementation.supports(case) is None, implementation.supports(case)
    return implementation.run(case, inputs_for(case))


def first(cases: list[Case], family: str, **params: object) -> Case:
    return next(c for c in cases if c.family == family
                and all(c.get(k) == v for k, v in params.items()))


def float32_decay(momentum: float) -> float:
    """The momentum tf_keras really applies: ``1 - float32(1 - momentum)`` (BNB:867)."""
    return 1.0 - float(np.float32(1.0 - momentum))


def expected(case: Case, conv: ob.Conventions,
             momentum: float | None = None) -> dict[str, np.ndarray]:
    i = inputs_for(case)
    m = case.get("momentum")
    eps = case.get("epsilon")
    if momentum is None:
        given = DEFAULT_MOMENTUM if m == "default" else float(m)  # type: ignore[arg-type]
        momentum = float32_decay(given)
    return ob.sequence(i["train"], i["eval"], case.channel_axis, i["gamma"], i["beta"], momentum,
                       DEFAULT_EPS if eps == "default" else float(eps),  # type: ignore[arg-type]
                       conv)


def assert_close(actual: np.ndarray, want: np.ndarray, tol: Tolerance, what: str) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), want, rtol=tol.rtol,
                               atol=tol.atol, err_msg=what)


def test_every_implementation_runs_a_case(adapter: TfKerasAdapter, cases: list[Case]) -> None:
    # SpatialDropout3D has no rank-5 case in the families; give it one.
    extra = Case.make("dropout", "test_rank5", 7, Tolerance(1e-6, 1e-6), shape=(2, 3, 4, 4, 5),
                      dtype="float32", rate=0.5, noise_shape=None)
    ran = set()
    for implementation in adapter.implementations():
        if "[fit]" in implementation.name:
            continue  # the fit row costs a trace per case; its own tests below run it
        case = next(c for c in [*cases, extra] if c.op == implementation.op
                    and implementation.supports(c) is None and c.get("rate") != 1.0)
        out = run(adapter, implementation, case)
        assert out and all(np.all(np.isfinite(v)) for v in out.values()), implementation.name
        ran.add((implementation.name, implementation.op))
    assert len(ran) == len(adapter.implementations()) - 1


def test_default_layer_matches_the_oracle_on_both_paths(adapter: TfKerasAdapter,
                                                         cases: list[Case]) -> None:
    plain = impl(adapter, BASE)
    seen = set()
    for case in cases:
        if case.family not in ("bn_layout", "bn_dtype", "bn_offset", "bn_variance"):
            continue
        out = run(adapter, plain, case)  # run() itself checks layer.fused against the row
        path = default_path(case)
        seen.add(path)
        want = expected(case, FUSED if path == "fused" else NON_FUSED)
        for key in ("y_train", "running_mean", "running_var", "y_eval"):
            assert_close(out[key], want[key], case.tolerance, f"{plain.qualify(case)} {key}")
    assert seen == {"fused", "non_fused"}


def test_float64_moving_average_uses_a_float32_decay(adapter: TfKerasAdapter,
                                                     cases: list[Case]) -> None:
    """``decay = tf.convert_to_tensor(1.0 - momentum)`` is float32 before the cast to float64."""
    case = first(cases, "bn_momentum", momentum=0.9)
    out = run(adapter, impl(adapter, BASE), case)
    assert_close(out["running_mean"], expected(case, NON_FUSED)["running_mean"],
                 Tolerance(1e-13, 1e-13), "float32-rounded decay")
    exact = expected(case, NON_FUSED, momentum=0.9)["running_mean"]
    assert not np.allclose(out["running_mean"], exact, rtol=1e-12, atol=1e-12)


def test_fused_path_keeps_small_epsilon_on_cpu(adapter: TfKerasAdapter) -> None:
    """The 1.001e-5 floor is cuDNN's; the CPU fused kernel uses epsilon as given."""
    case = Case.make("batchnorm", "test_eps", 3, Tolerance(2e-4, 2e-4), shape=(16, 4, 2, 2),
                     channel_axis="first", dtype="float32", momentum="default", epsilon=1e-8,
                     steps=1, offset=0.0, spread=1.0, special="tiny_variance")
    assert default_path(case) == "fused"
    out = run(adapter, impl(adapter, BASE), case)
    assert_close(out["y_train"], expected(case, FUSED)["y_train"], case.tolerance, "eps 1e-8")
    floored = expected(case, FUSED.with_(epsilon_floor=1.001e-5))["y_train"]
    assert np.abs(out["y_train"] - floored).max() > 1e-2


def test_probes_show_forward_updates_and_frozen_inference(adapter: TfKerasAdapter,
                                                          cases: list[Case]) -> None:
    for case in (first(cases, "bn_layout", shape=(4, 3, 4, 4)), first(cases, "bn_sequence")):
        out = run(adapter, impl(adapter, BASE), case)
        np.testing.assert_array_equal(out["mean_after_forward"], out["mean_after_backward"])
        assert np.abs(out["mean_after_forward"]).max() > 0
        i = inputs_for(case)
        inference = ob.normalize(i["train"][0], case.channel_axis, np.zeros(case.channels),
                                 np.ones(case.channels), DEFAULT_EPS, i["gamma"], i["beta"],
                                 ob.Conventions())
        assert_close(out["frozen_train"], inference, case.tolerance, "trainable=False")


def test_fit_matches_direct_calls_and_survives_model_reuse(adapter: TfKerasAdapter,
                                                           cases: list[Case]) -> None:
    fit = impl(adapter, f"{BASE}[fit]")
    for case in (first(cases, "bn_sequence"), first(cases, "bn_dtype", dtype="float32")):
        want = expected(case, FUSED if default_path(case) == "fused" else NON_FUSED)
        for attempt in range(2):  # the second run reuses the cached, compiled model
            out = run(adapter, fit, case)
            for key in ("y_train", "running_mean", "running_var", "y_eval"):
                assert_close(out[key], want[key], case.tolerance,
                             f"{fit.qualify(case)} {key} run {attempt}")


def test_renorm_rows(adapter: TfKerasAdapter, cases: list[Case]) -> None:
    case = first(cases, "bn_layout", shape=(8, 3))
    plain = expected(case, NON_FUSED)
    clipped = run(adapter, impl(adapter, f"{BASE}[renorm,rmin=1,rmax=1,dmax=0]"), case)
    assert_close(clipped["y_train"], plain["y_train"], case.tolerance, "r=1, d=0 is plain BN")
    free = run(adapter, impl(adapter, f"{BASE}[renorm]"), case)
    assert np.abs(free["y_train"] - plain["y_train"]).max() > 0.1
    # renorm=True with a float64 layer fails: tf.sqrt(epsilon) is float32 (BNB:1061).
    with pytest.raises(Exception, match="Maximum"):
        run(adapter, impl(adapter, f"{BASE}[renorm]"), first(cases, "bn_sequence"))


def test_ghost_batches_are_strided_not_contiguous(adapter: TfKerasAdapter,
                                                  cases: list[Case]) -> None:
    case = first(cases, "bn_batch", shape=(16, 3))
    out = run(adapter, impl(adapter, f"{BASE}[virtual_batch_size=2]"), case)
    i = inputs_for(case)
    x, groups = i["train"][0], 16 // 2
    want = np.empty_like(x, dtype=np.float64)
    for g in range(groups):  # reshape (16, C) -> (2, 8, C): ghost batch g is rows g and g + 8
        rows = [g, g + groups]
        want[rows] = ob.training_output(x[rows], 1, DEFAULT_EPS, i["gamma"], i["beta"],
                                        ob.Conventions())
    assert_close(out["y_train"][0], want, case.tolerance, "strided ghost batches")


def test_dropout_rows(adapter: TfKerasAdapter, cases: list[Case]) -> None:
    dropout = impl(adapter, "tf_keras.layers.Dropout", "dropout")
    case = first(cases, "do_rate", rate=0.5)
    x = inputs_for(case)["x"]
    out = run(adapter, dropout, case)
    again = run(adapter, dropout, case)
    np.testing.assert_array_equal(out["y_train"], again["y_train"])  # seeded
    kept = out["y_train"] != 0
    np.testing.assert_array_equal(out["y_eval"], x)
    assert_close(out["y_train"], od.training_output(x, kept, 0.5, "inverse_keep"),
                 case.tolerance, "inverse-keep scaling")
    with pytest.raises(ValueError, match="range"):
        run(adapter, dropout, first(cases, "do_rate", rate=1.0))
    noise = first(cases, "do_noise_shape", noise_shape=(32, 1, 16))
    for name in ("tf_keras.layers.Dropout", "tf_keras.layers.SpatialDropout1D"):
        y = run(adapter, impl(adapter, name, "dropout"), noise)["y_train"]
        assert od.mask_is_broadcast(y != 0, (32, 1, 16)), name


def test_alpha_dropout_is_affine_not_zeroing(adapter: TfKerasAdapter, cases: list[Case]) -> None:
    alpha = impl(adapter, "tf_keras.layers.AlphaDropout", "dropout")
    case = first(cases, "do_rate", rate=0.5)
    x = inputs_for(case)["x"].astype(np.float64)
    out: Mapping[str, np.ndarray] = run(adapter, alpha, case)
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - 0.5) * (1 + 0.5 * alpha_p**2)) ** -0.5
    b = -a * alpha_p * 0.5
    y = out["y_train"].astype(np.float64)
    kept = np.isclose(y, a * x + b, rtol=1e-5)
    assert np.allclose(y[~kept], a * alpha_p + b, rtol=1e-5)
    assert 0.4 < kept.mean() < 0.6 and not np.any(y == 0)
    np.testing.assert_array_equal(out["y_eval"], inputs_for(case)["x"])
    # rate 1.0: `if 0.0 < self.rate < 1.0` skips the noise entirely.
    ones = first(cases, "do_rate", rate=1.0)
    np.testing.assert_array_equal(run(adapter, alpha, ones)["y_train"], inputs_for(ones)["x"])


def test_declared_mask_shapes_are_the_observed_ones(adapter: TfKerasAdapter,
                                                    cases: list[Case]) -> None:
    """Spatial layers drop whole channels even on a case with no noise_shape; AlphaDropout
    zeroes nothing, so it declares no mask."""
    from conformance.compare.infer_dropout import mask_sharing

    plain = first(cases, "do_shape", shape=(8, 16, 32))
    spatial = impl(adapter, "tf_keras.layers.SpatialDropout1D", "dropout")
    declared = spatial.mask_shape(plain)
    assert declared == (8, 1, 32)
    kept = run(adapter, spatial, plain)["y_train"] != 0
    assert mask_sharing(kept, declared, 0.5, 1e-3)[0] == "as_declared"
    elementwise = kept.copy()
    elementwise[0, 0, :] = ~elementwise[0, 0, :]  # break the promised sharing
    assert mask_sharing(elementwise, declared, 0.5, 1e-3)[0] == "varies_along_shared_axes"
    alpha = impl(adapter, "tf_keras.layers.AlphaDropout", "dropout")
    assert alpha.mask_shape(plain) is None
    assert run(adapter, alpha, plain)["y_train"].all()


def test_every_claim_quote_is_in_the_installed_docstrings(adapter: TfKerasAdapter) -> None:
    claims = adapter.documented()
    assert len(claims) > 10
    assert all(c.verified for c in claims), [c for c in claims if not c.verified]
