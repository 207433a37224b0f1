"""The MXNet adapter against real MXNet 1.9.1: every row runs, and what it measures is so."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pytest

with warnings.catch_warnings():
    # mxnet 1.9.1 touches np.bool and distutils at import time; the suite runs warnings-as-errors.
    warnings.simplefilter("ignore")
    pytest.importorskip("mxnet")

from conformance.adapters.base import Implementation, Outputs, Unsupported
from conformance.adapters.mxnet1 import MxnetAdapter
from conformance.cases.families import generate, inputs_for
from conformance.cases.model import Case
from conformance.oracle import batchnorm as ob
from conformance.oracle import dropout as od
from conformance.spec import is_allowed

pytestmark = pytest.mark.framework("mxnet")

# The operator's momentum is a float32 parameter and its default eps is float32(1e-3).
F32_EPS_DEFAULT = float(np.float32(1e-3))
MEASURED = ob.Conventions(momentum_convention="weight_on_old", normalize_variance="biased",
                          running_variance_update="biased", epsilon_placement="inside_sqrt")


@pytest.fixture(scope="module")
def adapter() -> MxnetAdapter:
    a = MxnetAdapter()
    a.load()
    return a


def impl(adapter: MxnetAdapter, name: str, op: str = "batchnorm") -> Implementation:
    return next(i for i in adapter.implementations() if i.name == name and i.op == op)


def case_of(family: str, **params: object) -> Case:
    return next(c for c in generate() if c.family == family
                and all(c.get(k) == v for k, v in params.items()))


def run(adapter: MxnetAdapter, implementation: Implementation, case: Case) -> Outputs:
    adapter.seed(case.seed)
    return implementation.run(case, inputs_for(case))


def oracle(case: Case, inputs: Mapping[str, np.ndarray], conv: ob.Conventions,
           eps: float, momentum: float = 0.9) -> dict[str, np.ndarray]:
    m = case.get("momentum")
    e = case.get("epsilon")
    return ob.sequence(inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
                       inputs["beta"], float(np.float32(momentum if m == "default" else m)),
                       eps if e == "default" else float(e), conv)  # type: ignore[arg-type]


def assert_close(out: Outputs, expected: Mapping[str, np.ndarray], case: Case) -> None:
    tol = case.tolerance
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        np.testing.assert_allclose(out[key].astype(np.float64), expected[key], rtol=tol.rtol,
                                   atol=tol.atol, err_msg=f"{key} of {case.id}")


def test_every_implementation_runs_a_case(adapter: MxnetAdapter) -> None:
    cases = generate()
    for implementation in adapter.implementations():
        ran = 0
        for case in cases:
            if case.op != implementation.op or implementation.supports(case) is not None:
                continue
            out = run(adapter, implementation, case)
            assert out, f"{implementation.name} returned nothing on {case.id}"
            ran += 1
            if ran == 2:
                break
        assert ran, f"{implementation.name} ({implementation.op}) ran no case"


@pytest.mark.parametrize("name", ["mxnet.nd.BatchNorm", "mxnet.nd.BatchNorm[fix_gamma=False]",
                                  "mxnet.gluon.nn.BatchNorm"])
@pytest.mark.parametrize("rank, layout", [(2, "first"), (4, "first"), (4, "last"), (5, "last")])
def test_batchnorm_matches_oracle(adapter: MxnetAdapter, name: str, rank: int,
                                  layout: str) -> None:
    case = next(c for c in generate(["bn_layout"])
                if len(c.shape) == rank and c.get("channel_axis") == layout)
    out = run(adapter, impl(adapter, name), case)
    gamma = name != "mxnet.nd.BatchNorm"  # fix_gamma=True, the operator default, drops gamma
    eps = 1e-5 if name.startswith("mxnet.gluon") else F32_EPS_DEFAULT
    assert_close(out, oracle(case, inputs_for(case), MEASURED.with_(gamma_applied=gamma), eps),
                 case)


def test_float64_momentum_is_rounded_to_float32(adapter: MxnetAdapter) -> None:
    case = case_of("bn_momentum", momentum=0.1)
    inputs = inputs_for(case)
    out = run(adapter, impl(adapter, "mxnet.gluon.nn.BatchNorm"), case)
    conv = MEASURED
    rounded = oracle(case, inputs, conv, 1e-5)
    assert_close(out, rounded, case)
    exact = ob.sequence(inputs["train"], inputs["eval"], 1, inputs["gamma"], inputs["beta"],
                        0.1, 1e-5, conv)
    err = np.abs(out["running_mean"] - exact["running_mean"]).max()
    assert err > 1e3 * case.tolerance.atol, "momentum now kept in float64: update the claims"


def test_running_statistics_change_in_backward_only(adapter: MxnetAdapter) -> None:
    case = case_of("bn_dtype", dtype="float32")
    for name in ("mxnet.nd.BatchNorm", "mxnet.gluon.nn.BatchNorm"):
        out = run(adapter, impl(adapter, name), case)
        np.testing.assert_array_equal(out["mean_after_forward"], 0.0)
        mean, _, _ = ob.batch_moments(inputs_for(case)["train"][0], 1)
        np.testing.assert_allclose(out["mean_after_backward"], 0.1 * mean, rtol=1e-5,
                                   atol=1e-6)


def test_float16_runs_with_float32_statistics(adapter: MxnetAdapter) -> None:
    case = case_of("bn_dtype", dtype="float16")
    for name in ("mxnet.nd.BatchNorm", "mxnet.gluon.nn.BatchNorm"):
        out = run(adapter, impl(adapter, name), case)
        assert out["y_train"].dtype == np.float16
        assert out["running_mean"].dtype == np.float32


def test_gluon_center_false_still_adds_beta(adapter: MxnetAdapter) -> None:
    case = case_of("ce_flags", flags="center_off", shape=(8, 3))
    implementation = impl(adapter, "mxnet.gluon.nn.BatchNorm", "centering")
    assert implementation.qualify(case) == "mxnet.gluon.nn.BatchNorm[center=False]"
    out = run(adapter, implementation, case)
    assert_close(out, oracle(case, inputs_for(case), MEASURED, 1e-5), case)
    # A demonstration: the adapter loads a nonzero beta; the row must say so.
    assert inputs_for(case)["beta"].any()
    assert "center=False" in implementation.demonstration(case)


def test_gluon_scale_false_ignores_gamma_and_mean_only_is_unsupported(
        adapter: MxnetAdapter) -> None:
    implementation = impl(adapter, "mxnet.gluon.nn.BatchNorm", "centering")
    case = case_of("ce_flags", flags="scale_off", shape=(8, 3))
    out = run(adapter, implementation, case)
    assert_close(out, oracle(case, inputs_for(case), MEASURED.with_(gamma_applied=False), 1e-5),
                 case)
    assert implementation.supports(case_of("ce_flags", flags="mean_only")) is not None


def test_frozen_gluon_layer_normalizes_with_batch_statistics(adapter: MxnetAdapter) -> None:
    case = case_of("bn_dtype", dtype="float64")
    out = run(adapter, impl(adapter, "mxnet.gluon.nn.BatchNorm"), case)
    np.testing.assert_allclose(out["frozen_train"], out["y_train"][0], rtol=1e-12)


def test_cumulative_momentum_is_unsupported(adapter: MxnetAdapter) -> None:
    case = case_of("bn_momentum", momentum="none")
    for implementation in adapter.implementations():
        if implementation.op == "batchnorm":
            assert implementation.supports(case) is not None
            with pytest.raises(Unsupported):
                implementation.run(case, inputs_for(case))


@pytest.mark.parametrize("name", ["mxnet.nd.Dropout", "mxnet.gluon.nn.Dropout"])
def test_dropout_scales_kept_values_and_is_identity_in_inference(adapter: MxnetAdapter,
                                                                  name: str) -> None:
    case = case_of("do_rate", rate=0.5)
    x = inputs_for(case)["x"]
    out = run(adapter, impl(adapter, name, "dropout"), case)
    kept = out["y_train"] != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(out["y_train"], od.training_output(x, kept, 0.5, "inverse_keep"),
                               rtol=1e-6)
    np.testing.assert_array_equal(out["y_eval"], x)
    again = run(adapter, impl(adapter, name, "dropout"), case)
    np.testing.assert_array_equal(again["y_train"], out["y_train"])  # seeded


def test_dropout_rate_one_gives_nan_and_mode_always_drops_in_inference(
        adapter: MxnetAdapter) -> None:
    out = run(adapter, impl(adapter, "mxnet.nd.Dropout", "dropout"), case_of("do_rate", rate=1.0))
    assert np.isnan(out["y_train"]).all()
    case = case_of("do_rate", rate=0.5)
    always = run(adapter, impl(adapter, "mxnet.nd.Dropout[mode=always]", "dropout"), case)
    assert 0.4 < (always["y_eval"] == 0).mean() < 0.6


@pytest.mark.parametrize("noise", [(32, 1, 16), (1, 64, 1)])
def test_noise_shape_maps_to_shared_axes(adapter: MxnetAdapter, noise: tuple[int, ...]) -> None:
    case = case_of("do_noise_shape", noise_shape=noise)
    for name in ("mxnet.nd.Dropout", "mxnet.gluon.nn.Dropout"):
        kept = run(adapter, impl(adapter, name, "dropout"), case)["y_train"] != 0
        assert od.mask_is_broadcast(kept, noise)
        assert 0 < kept.mean() < 1


def test_claims_are_verified_and_in_vocabulary(adapter: MxnetAdapter) -> None:
    claims = adapter.documented()
    assert len(claims) >= 15
    for claim in claims:
        assert claim.verified is True, f"{claim.implementation} {claim.behaviour}: {claim.quote}"
        assert is_allowed(claim.behaviour, claim.value), claim
    rows = {i.name for i in adapter.implementations()} | {
        "mxnet.gluon.nn.BatchNorm[scale=False]", "mxnet.gluon.nn.BatchNorm[center=False]",
        "mxnet.gluon.nn.BatchNorm[center=False,scale=False]"}
    assert {c.implementation for c in claims} <= rows
