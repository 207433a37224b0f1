"""The HTML report: self-contained, escaped, and its porting and export claims verified."""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path

import numpy as np
import pytest
from browser.synthetic import EVIL, build  # tests/ is on sys.path (rootdir-relative)

from conformance.cases import generate
from conformance.cases.families import inputs_for
from conformance.compare.analyze import Analysis
from conformance.compare.fit import Finding
from conformance.report import charts
from conformance.report.data import ReportData
from conformance.report.html import render, write_html
from conformance.report.porting import export, representative, translations
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


def test_porting_translation_is_verified(analysis: Analysis) -> None:
    data = ReportData(analysis)
    pairs = {(t.source.framework, t.target.framework): t for t in translations(data)}
    t = pairs[("numpy", "mxnet")]
    momentum = t.items[0]
    assert "1 - momentum_source" in momentum.rule
    assert momentum.status == "verified" and momentum.total > 3
    assert t.status == "verified", [(i.topic, i.worst) for i in t.items]


def test_porting_fails_when_conventions_lie(analysis: Analysis) -> None:
    lying = copy.deepcopy(analysis)
    for row in lying.rows:
        if row.framework == "mxnet":  # pretend the synthetic row used the torch convention
            row.findings = [Finding("momentum_convention", "weight_on_new")
                            if f.behaviour == "momentum_convention" else f
                            for f in row.findings]
    pairs = {(t.source.framework, t.target.framework): t
             for t in translations(ReportData(lying))}
    # Reproducing the mxnet row with the lie (momentum unchanged) misses its measured stats.
    assert "unchanged" in pairs[("mxnet", "numpy")].items[0].rule
    assert pairs[("mxnet", "numpy")].items[0].status == "failed"
    assert pairs[("mxnet", "numpy")].status == "failed"


def test_numpy_export_reproduces_y_eval(analysis: Analysis) -> None:
    data = ReportData(analysis)
    for col in representative(data):
        x = export(data, col)
        assert x.status == "verified", (col.label, x.worst)
        assert x.total >= 3
    mx = next(c for c in representative(data) if c.framework == "mxnet")
    assert "epsilon=0.001" in export(data, mx).code


def test_snippet_recipe_draws_the_suite_inputs() -> None:
    for case in generate(["bn_sequence", "bn_variance", "bn_epsilon", "dropout"])[::2]:
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
