"""The matrix keeps provenance visible: recipes apart, n/a cells, demonstrations stated,
and neither votes for the majority nor ports."""

from __future__ import annotations

from conformance.compare.analyze import Analysis, RowReport
from conformance.compare.fit import Finding
from conformance.report.data import ReportData
from conformance.report.matrix import majority_state, op_table, ordered
from conformance.report.porting import portable
from conformance.spec import NOT_APPLICABLE

SCENARIO = "the train op is built without the UPDATE_OPS"


def _row(fw: str, impl: str, op: str = "batchnorm", demonstration: str = "",
         **values: str) -> RowReport:
    return RowReport(fw, "1.0", impl, op, findings=[Finding(b, v) for b, v in values.items()],
                     demonstration=demonstration)


def _data() -> ReportData:
    rows = [
        _row("keras", "recipe:keras.Centering", "centering", offset_applied=NOT_APPLICABLE),
        _row("keras", "keras.layers.BatchNormalization", frozen_layer_mode="inference",
             momentum_convention="weight_on_old"),
        _row("torch", "torch.nn.BatchNorm2d", frozen_layer_mode=NOT_APPLICABLE,
             momentum_convention="weight_on_new"),
        _row("mxnet", "mxnet.gluon.nn.BatchNorm", frozen_layer_mode=NOT_APPLICABLE,
             momentum_convention="weight_on_new"),
        _row("tensorflow", "tf.compat.v1.layers.batch_normalization[without_update_ops]",
             demonstration=SCENARIO, momentum_convention="weight_on_old",
             stats_update_trigger="never"),
        _row("keras", "keras.layers.BatchNormalization", "centering", offset_applied="yes"),
    ]
    return ReportData(Analysis([], [], rows, []))


def test_not_applicable_and_demonstrations_do_not_vote() -> None:
    data = _data()
    # torch and mxnet's stand-ins would have outvoted keras; now nobody has a majority
    assert "frozen_layer_mode" not in data.majority
    assert "stats_update_trigger" not in data.majority  # only the demonstration says never
    assert data.majority["momentum_convention"] == "weight_on_new"
    assert majority_state(data, "frozen_layer_mode", NOT_APPLICABLE) == "none"


def test_recipe_columns_come_last_in_their_own_group() -> None:
    data = _data()
    names = [c.implementation for c in ordered(data, "centering")]
    assert names == ["keras.layers.BatchNormalization", "recipe:keras.Centering"]
    html = op_table(data, "centering", [])
    assert "keras 1.0 · suite recipes" in html
    assert "th class='impl recipe'" in html


def test_not_applicable_cells_read_n_a_and_say_why() -> None:
    html = op_table(_data(), "batchnorm", [])
    assert "a-not_applicable" in html and ">n/a<" in html
    assert f">{NOT_APPLICABLE}<" not in html


def test_demonstration_rows_are_labelled_with_their_scenario() -> None:
    html = op_table(_data(), "batchnorm", [])
    assert "th class='impl demo'" in html
    assert f"demonstration: {SCENARIO}" in html
    assert html.count(SCENARIO) == 2  # header title and the list under the table


def test_recipe_demonstration_and_stand_in_conventions_never_port() -> None:
    cols = {(c.framework, c.implementation): c for c in _data().columns}
    assert portable(cols[("torch", "torch.nn.BatchNorm2d")])  # frozen_layer_mode is not ported
    assert not portable(cols[("keras", "recipe:keras.Centering")])
    assert not portable(cols[("tensorflow",
                              "tf.compat.v1.layers.batch_normalization[without_update_ops]")])
    recipe = _row("tensorflow", "tf.nn.batch_normalization",
                  momentum_convention=NOT_APPLICABLE)
    data = ReportData(Analysis([], [], [recipe], []))
    assert not portable(data.columns[0])


def test_keras_column_groups_name_their_backend() -> None:
    from pathlib import Path

    from conformance.compare.load import Run

    runs = [Run(Path(), {"framework": fw, "framework_version": "3.15.1", "backend": b})
            for fw, b in (("keras", "tensorflow"), ("keras_jax", "jax"),
                          ("flax", "cpu"))]
    rows = [RowReport(r.framework, "3.15.1", "keras.layers.BatchNormalization", "batchnorm")
            for r in runs]
    data = ReportData(Analysis([], [], rows, runs))
    html = op_table(data, "batchnorm", [])
    assert "keras 3.15.1 (tensorflow)" in html and "keras 3.15.1 (jax)" in html
    assert data.group_label("flax", "3.15.1") == "flax 3.15.1"  # only Keras names a backend
