"""Oracle (a) on real worker output: the NumPy reference row passes its own conventions,
and an output planted off by 2 % is a finding; errors become status findings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance.arrays import load_arrays, save_arrays
from conformance.compare.load import load_runs
from conformance.explore import sampler
from conformance.explore.conventions import conventions_of
from conformance.explore.findings import Finding
from conformance.explore.inputs import materialize
from conformance.explore.oracles import calibrated, own_conventions
from conformance.runner import run_worker

CONVENTIONS = """\
framework,framework_version,implementation,op,behaviour,documented,actual,agrees,evidence
numpy,2,conformance.oracle.batchnorm.sequence,batchnorm,momentum_default,0.1,0.1,yes,
numpy,2,conformance.oracle.batchnorm.sequence,batchnorm,momentum_convention,,weight_on_new,yes,
numpy,2,conformance.oracle.batchnorm.sequence,batchnorm,epsilon_default,,1e-05,yes,
numpy,2,conformance.oracle.batchnorm.sequence,batchnorm,normalize_variance,,biased,yes,
numpy,2,conformance.oracle.batchnorm.sequence,batchnorm,running_variance_update,,unbiased,yes,
numpy,2,conformance.oracle.batchnorm.sequence,batchnorm,batch_size_one_training,,beta,yes,
numpy,2,conformance.oracle.dropout,dropout,training_scale,,inverse_keep,yes,
numpy,2,conformance.oracle.dropout,dropout,inference_output,,identity,yes,
numpy,2,conformance.oracle.dropout,dropout,rate_one,,zeros,yes,
"""
PARAMS = {"shape": (8, 3), "channel_axis": "first", "dtype": "float64", "momentum": 0.3,
          "epsilon": 1e-3, "steps": 2, "offset": 0.0, "spread": 1.0, "special": "none",
          "poison": "none"}


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, Path]:
    cases = [sampler.bn_case(PARAMS), sampler.bn_case({**PARAMS, "poison": "nan"}),
             sampler.dropout_case({"shape": (64, 32), "dtype": "float32", "rate": 0.5,
                                   "noise_shape": None})]
    cdir, out = tmp_path / "cases", tmp_path / "runs"
    materialize(cases, cdir)
    assert run_worker("numpy", cdir, out) == 0
    conv = tmp_path / "d.csv"
    conv.write_text(CONVENTIONS)
    return cdir, out, conv


def _findings(cdir: Path, out: Path, conv: Path) -> list[str]:
    from conformance.cases.store import load_manifest

    cases = {c.id: c for c in load_manifest(cdir)}
    found = own_conventions(load_runs(out), cases, cdir,
                            lambda fw, impl, op: conventions_of(conv, fw, impl, op))
    return [f"{f.kind}:{f.check}:{f.case_id}" for f in found]


def test_reference_row_has_no_findings(world: tuple[Path, Path, Path]) -> None:
    assert _findings(*world) == []


def test_planted_deviation_is_a_finding(world: tuple[Path, Path, Path]) -> None:
    cdir, out, conv = world
    bn = sampler.bn_case(PARAMS)
    path = next(p for p in (out).rglob(f"{bn.id}__*.npz"))
    arrays = load_arrays(path)
    arrays["y_train"] = np.asarray(arrays["y_train"]) * 1.02
    save_arrays(path, arrays)
    assert _findings(cdir, out, conv) == [f"oracle:y_train:{bn.id}"]


def _f(framework: str, case_id: str, kind: str = "oracle") -> Finding:
    return Finding(kind, framework, "1", "i", "i", "batchnorm", "y_train", case_id, "")


def test_calibration_drops_cases_the_reference_row_fails() -> None:
    found = [_f("numpy", "a"), _f("torch", "a"), _f("torch", "a", "pair"), _f("torch", "b")]
    assert [(f.framework, f.case_id, f.kind) for f in calibrated(found)] == [
        ("torch", "a", "pair"), ("torch", "b", "oracle")]
