"""The HTML report: self-contained, escaped, and its porting and export claims verified."""

from __future__ import annotations

import html
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from browser.synthetic import EVIL, build  # tests/ is on sys.path (rootdir-relative)

from conformance.cases import generate
from conformance.cases.families import inputs_for
from conformance.cases.model import Case
from conformance.compare.analyze import Analysis
from conformance.oracle import batchnorm as bn
from conformance.report import charts
from conformance.report.data import ReportData
from conformance.report.html import render, write_html
from conformance.report.porting import export, representative
from conformance.report.snippets import recipe, snippet


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return build(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def page(analysis: Analysis) -> str:
    return render(analysis)


def test_page_is_self_contained(page: str) -> None:
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"""src=['"]?(https?:)?//""", page)
    assert page.count("<svg") >= 3  # two trajectories and the error strips
    assert "section class='op' data-op='batchnorm'" in page


def test_framework_strings_are_escaped(page: str) -> None:
    assert EVIL not in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert html.escape(EVIL) in page  # shown, as text, in the detail view and the run row
    assert "href='javascript:" not in page  # a non-web source is never a link


def test_matrix_marks_contradictions_and_majority(page: str) -> None:
    cell = re.search(r"<td class='cell a-no[^']*'[^>]*data-detail='d-\d+-momentum_convention'"
                     r"[^>]*>weight_on_old", page)
    assert cell is not None
    detail = page[page.index("momentum_convention</b>: "):]
    assert "Fit: score of each candidate value" in detail


def test_write_html(analysis: Analysis, tmp_path: Path) -> None:
    path = write_html(analysis, tmp_path)
    assert path == tmp_path / "index.html" and path.read_text().startswith("<!doctype html>")


def test_the_history_section_is_embedded_when_a_history_exists(analysis: Analysis,
                                                               tmp_path: Path) -> None:
    assert "Behaviour history" not in write_html(analysis, tmp_path).read_text()
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "section.html").write_text("<p>2 change points</p>")
    page = write_html(analysis, tmp_path).read_text()
    assert "<h2 id='history'>Behaviour history</h2><p>2 change points</p>" in page


def test_numpy_export_reproduces_y_eval(analysis: Analysis) -> None:
    data = ReportData(analysis)
    for col in representative(data):
        x = export(data, col)
        assert x.status == "verified", (col.label, x.worst)
        assert x.total >= 3
    mx = next(c for c in representative(data) if c.framework == "mxnet")
    assert "epsilon=0.001" in export(data, mx).code
    assert inspect.getsource(bn.inference) in export(data, mx).code  # the oracle's own code


def test_snippet_recipe_draws_the_suite_inputs() -> None:
    for case in generate(["bn_sequence", "bn_variance", "bn_epsilon", "bn_half", "dropout"])[::2]:
        ns: dict[str, object] = {"np": np}
        exec(recipe(case), ns)
        want = inputs_for(case)
        got = {"x": ns.get("x"), "train": ns.get("train"), "eval": ns.get("eval_x"),
               "gamma": ns.get("gamma"), "beta": ns.get("beta")}
        for key, value in want.items():
            np.testing.assert_array_equal(got[key], value, err_msg=f"{case.id} {key}")


def test_snippet_embeds_small_inputs_and_names_the_api() -> None:
    case = next(c for c in generate(["bn_layout"]) if len(c.shape) == 2)
    text = snippet("torch", "torch.nn.BatchNorm1d", case, inputs_for(case))
    assert "torch.nn.BatchNorm1d(3" in text and "np.array([" in text
    assert "no snippet generator" in snippet("newfw", "x.y\n<evil>", case, None)
    assert "<evil>" not in snippet("newfw", "x.y\n<evil>", case, None)


def test_charts_escape_and_clip() -> None:
    svg = charts.strip_plot([charts.Strip("<b>", [(-50.0, True, "t<"), (50.0, False, "u")])],
                            "errs")
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    xs = [float(v) for v in re.findall(r"cx='([\d.]+)'", svg)]
    assert min(xs) >= 330 and max(xs) <= 760
    assert "no data" in charts.line_chart([charts.Series("a", [float("nan")])], "t", "x")


def test_keras_backend_snippets_choose_the_backend_before_importing_keras() -> None:
    from conformance.cases import generate
    from conformance.report.snippets import snippet

    case = next(c for c in generate(["bn_batch"]))
    for framework, backend in (("keras_jax", "jax"), ("keras_torch", "torch")):
        code = snippet(framework, "keras.layers.BatchNormalization", case, None)
        assert f'os.environ["KERAS_BACKEND"] = "{backend}"' in code
        assert code.index("KERAS_BACKEND") < code.index("import keras")


def _compiles(code: str) -> None:
    compile(code, "<snippet>", "exec")  # a SyntaxError fails the test


def _cases() -> tuple[Case, Case, Case, Case]:
    cases = generate(["bn_layout", "bn_dtype", "dropout"])
    bn = next(c for c in cases if len(c.shape) == 4 and c.channel_axis == 1
              and c.dtype == "float32")
    last = next(c for c in cases if len(c.shape) == 4 and c.channel_axis != 1)
    f64 = next(c for c in cases if c.op == "batchnorm" and c.dtype == "float64")
    do = next(c for c in cases if c.op == "dropout" and c.get("noise_shape") is None)
    return bn, last, f64, do


def test_flax_snippets_name_linen_and_nnx_and_enable_x64_for_float64() -> None:
    bn, _, f64, do = _cases()
    for impl, case, want in (
            ("flax.linen.BatchNorm", bn, "nn.BatchNorm(axis=1"),
            ("flax.nnx.BatchNorm", bn, "nnx.BatchNorm(3, axis=1"),
            ("flax.linen.Dropout", do, "nn.Dropout("),
            ("flax.nnx.Dropout", do, "nnx.Dropout(")):
        code = snippet("flax", impl, case, None)
        assert want in code and "no snippet generator" not in code, impl
        _compiles(code)
    for impl in ("flax.linen.BatchNorm[float64]", "flax.nnx.BatchNorm[float64]"):
        code = snippet("flax", impl, f64, None)
        assert 'jax.config.update("jax_enable_x64", True)' in code
        assert "param_dtype=jnp.float64" in code and "dt = jnp.float64" in code
        _compiles(code)


def test_paddle_snippets_pass_data_format_attrs_and_mode() -> None:
    bn, last, _, do = _cases()
    code = snippet("paddle", "paddle.nn.BatchNorm2D", bn, None)
    assert "paddle.nn.BatchNorm2D(3, data_format='NCHW'" in code and ".backward()" in code
    _compiles(code)
    code = snippet("paddle", "paddle.nn.BatchNorm2D[data_format=NHWC]", last, None)
    assert "paddle.nn.BatchNorm2D(3, data_format='NHWC'" in code
    _compiles(code)
    flags = next(c for c in generate(["centering"]) if c.get("flags") == "affine_off")
    code = snippet("paddle", "paddle.nn.BatchNorm1D[weight_attr=False,bias_attr=False]",
                   flags, None)
    assert "weight_attr=False, bias_attr=False" in code
    _compiles(code)
    code = snippet("paddle", "paddle.nn.Dropout[mode=downscale_in_infer]", do, None)
    assert "paddle.nn.Dropout(p=" in code and "mode='downscale_in_infer'" in code
    assert f"paddle.seed({do.seed})" in code
    _compiles(code)
    code = snippet("paddle", "paddle.nn.functional.dropout", do, None)
    assert "paddle.nn.functional.dropout(x_t, training=True" in code
    _compiles(code)


def test_onnxruntime_snippets_build_the_node_at_the_rows_opset() -> None:
    bn, _, _, do = _cases()
    code = snippet("onnxruntime", "onnx.BatchNormalization[opset=15,training_mode=1]", bn,
                   None)
    assert "helper.make_node('BatchNormalization'" in code and "training_mode=1" in code
    assert "helper.make_opsetid('', opset)" in code and ", 15)" in code
    _compiles(code)
    code = snippet("onnxruntime", "onnx.BatchNormalization[opset=9]", bn, None)
    assert "training_mode" not in code and ", 9)" in code
    _compiles(code)
    code = snippet("onnxruntime", "onnx.Dropout[opset=13]", do, None)
    assert "helper.make_node('Dropout'" in code and f"seed={do.seed}" in code
    _compiles(code)
    for impl, want in (
            ("torch.onnx.export(BatchNorm2d)[training=TRAINING]->onnxruntime",
             "dynamo=True, training=torch.onnx.TrainingMode.TRAINING"),
            ("torch.onnx.export(BatchNorm2d)[dynamo=False,training=TRAINING]->onnxruntime",
             "dynamo=False, training=torch.onnx.TrainingMode.TRAINING"),
            ("torch.onnx.export(BatchNorm2d)[training=EVAL]->onnxruntime",
             "training=torch.onnx.TrainingMode.EVAL")):
        code = snippet("onnxruntime", impl, bn, None)
        assert want in code and "ort.InferenceSession(" in code, impl
        _compiles(code)
    code = snippet("onnxruntime", "torch.onnx.export(Dropout)[training=EVAL]->onnxruntime", do,
                   None)
    assert "torch.nn.Dropout(" in code and "TrainingMode.EVAL" in code
    _compiles(code)
