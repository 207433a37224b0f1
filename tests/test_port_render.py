"""A port as text: the call to write, the variable mapping, both verdicts, what is lost."""

from __future__ import annotations

from conformance.port.core import Port, Verdict, side
from conformance.port.grade import Grade
from conformance.port.render import render


def test_render_names_arguments_variables_verdicts_and_losses() -> None:
    p = Port(side("torch.nn.BatchNorm2d"), side("keras.layers.BatchNormalization"),
             {"num_features": 3}, {"axis": 1, "momentum": 0.9, "epsilon": 1e-05},
             [{"role": "running_var", "source": "running_var", "target": "moving_variance",
               "shape": [3], "target_shape": [3]},
              {"role": "count", "source": "num_batches_tracked", "target": None,
               "shape": [], "target_shape": None}],
             Verdict(Grade("exact"), cases=4),
             Verdict(Grade("approximate", "c1", "running_var", 0.02, 0.0156), cases=4),
             ["running variance: unbiased vs biased"], case="c1")
    text = render(p)
    assert "keras.layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-05)" in text
    assert "running_var -> moving_variance" in text and "num_batches_tracked -> -" in text
    assert "inference port:  exact within the case tolerance [4 case(s)]" in text
    assert "approximate: worst relative error 0.0156 (running_var of c1)" in text
    assert "cannot carry over" in text


def test_a_port_that_did_not_run_says_why() -> None:
    p = Port(side("mxnet.gluon.nn.BatchNorm"), side("numpy"),
             inference=Verdict(outcome="no mxnet environment"))
    assert "inference port:  not run: no mxnet environment" in render(p)
