"""Dispatch of special rows: which config selects which oracle, under which parameters."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.cases.model import Case, Tolerance
from conformance.compare import special
from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do
from conformance.oracle import ghost

TOL = Tolerance(1e-6, 1e-6)
RNG = np.random.default_rng(1)
BN_INPUTS = {"train": RNG.normal(size=(2, 4, 3)), "eval": RNG.normal(size=(4, 3)),
             "gamma": np.array([1.0, 2.0, 0.5]), "beta": np.array([0.0, 0.1, -0.2])}


def _bn_case(dtype: str = "float32") -> Case:
    return Case.make("batchnorm", "bn_test", 0, TOL, shape=(4, 3), dtype=dtype,
                     channel_axis="first", momentum="default", epsilon="default")


def _expected(config: dict[str, object] | None, dtype: str = "float32",
              precision: str = "as_given") -> special.Variant | None:
    return special.batchnorm(_bn_case(dtype), config, BN_INPUTS, bn.Conventions(), 0.9, 1e-3,
                             precision)


@pytest.mark.parametrize("config", [None, {}, {"fused": False}])
def test_ordinary_rows_get_none(config: dict[str, object] | None) -> None:
    assert _expected(config) is None


def test_renorm_with_identity_clipping_trains_like_batch_norm() -> None:
    v = _expected({"renorm": True, "renorm_momentum": 0.5,
                   "renorm_clipping": {"rmin": 1, "rmax": 1, "dmax": 0}})
    assert v is not None and "rmax=1.0" in v.model
    plain = bn.sequence(BN_INPUTS["train"], BN_INPUTS["eval"], 1, BN_INPUTS["gamma"],
                        BN_INPUTS["beta"], 0.9, 1e-3, bn.Conventions())
    np.testing.assert_allclose(v.outputs["y_train"], plain["y_train"], rtol=1e-12)
    np.testing.assert_allclose(v.outputs["running_mean"], plain["running_mean"], rtol=1e-12)
    # ...but the moving variance goes through the moving standard deviation
    assert not np.allclose(v.outputs["running_var"], plain["running_var"])


def test_renorm_needs_its_momentum_declared() -> None:
    with pytest.raises(ValueError, match="renorm_momentum"):
        _expected({"renorm": True})


def test_ghost_rows_default_to_strided_groups() -> None:
    v = _expected({"virtual_batch_size": 2})
    assert v is not None
    exp = ghost.sequence(BN_INPUTS["train"], BN_INPUTS["eval"], 1, BN_INPUTS["gamma"],
                         BN_INPUTS["beta"], 0.9, 1e-3, bn.Conventions(), 2, "strided")
    for key, value in exp.items():
        np.testing.assert_array_equal(v.outputs[key], value)
    other = _expected({"virtual_batch_size": 2, "ghost_grouping": "contiguous"})
    assert other is not None
    assert not np.allclose(other.outputs["y_train"], v.outputs["y_train"])


def test_momentum_precision_applies_to_float64_cases_only() -> None:
    assert special.applied_momentum(0.9, "float32_complement") == \
        1.0 - float(np.float32(1.0 - 0.9))
    assert special.applied_momentum(0.9, "float32") == float(np.float32(0.9))
    config = {"virtual_batch_size": 2}
    as_given = _expected(config, "float64")
    rounded = _expected(config, "float64", "float32_complement")
    ignored = _expected(config, "float32", "float32_complement")
    plain32 = _expected(config, "float32")
    assert as_given and rounded and ignored and plain32
    assert not np.array_equal(as_given.outputs["running_mean"], rounded.outputs["running_mean"])
    np.testing.assert_array_equal(ignored.outputs["running_mean"], plain32.outputs["running_mean"])


def _do_case(rate: float) -> Case:
    return Case.make("dropout", "do_test", 0, TOL, shape=(4,), dtype="float32", rate=rate)


X = np.array([1.0, 1.5, 2.0, 1.25])
KEPT = np.array([True, False, True, True])


def test_alpha_dropout_reads_its_mask_off_the_output() -> None:
    y = do.alpha_training_output(X, KEPT, 0.3)
    v = special.dropout(_do_case(0.3), {"alpha_dropout": True}, {"x": X},
                        {"y_train": y, "y_eval": X}, "inverse_keep", "identity",
                        "not_applicable")
    assert v is not None and v.kept is not None
    np.testing.assert_array_equal(v.kept, KEPT)
    np.testing.assert_array_equal(v.outputs["y_train"], y)
    np.testing.assert_array_equal(v.outputs["y_eval"], X)
    at_one = special.dropout(_do_case(1.0), {"alpha_dropout": True}, {"x": X},
                             {"y_train": X, "y_eval": X}, "inverse_keep", "identity",
                             "drop_probability")
    assert at_one is not None and set(at_one.outputs) == {"y_eval"}


def test_dropout_at_inference_and_ordinary_dropout() -> None:
    y_eval = np.where(KEPT, X * 2.0, 0.0)
    outputs = {"y_train": np.where(~KEPT, X * 2.0, 0.0), "y_eval": y_eval}
    v = special.dropout(_do_case(0.5), {"mode": "always"}, {"x": X}, outputs, "inverse_keep",
                        "identity", "drop_probability")
    assert v is not None
    np.testing.assert_array_equal(v.outputs["y_eval"], y_eval)
    np.testing.assert_array_equal(v.outputs["y_train"], outputs["y_train"])
    assert special.dropout(_do_case(0.5), {}, {"x": X}, outputs, "inverse_keep", "identity",
                           "drop_probability") is None


def test_adapter_rows_declare_what_special_needs() -> None:
    """The rows named after a modelled argument record a config that selects its oracle
    (no framework needed: adapters import theirs lazily)."""
    from conformance.adapters.mxnet1 import MxnetAdapter
    from conformance.adapters.tfkeras import TfKerasAdapter

    impls = [*TfKerasAdapter().implementations(), *MxnetAdapter().implementations()]
    bn_case, do_case = _bn_case(), _do_case(0.5)
    modelled = {i.name: i for i in impls
                if any(k in i.name for k in ("renorm", "virtual_batch_size", "Alpha", "always"))}
    assert len(modelled) == 5
    outputs = {"y_train": X, "y_eval": X}
    for name, impl in modelled.items():
        if impl.op == "batchnorm":
            v = special.batchnorm(bn_case, impl.config(bn_case), BN_INPUTS, bn.Conventions(),
                                  0.9, 1e-3)
        else:
            v = special.dropout(do_case, impl.config(do_case), {"x": X}, outputs,
                                "inverse_keep", "identity", "drop_probability")
        assert v is not None, name
