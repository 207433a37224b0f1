"""The HTML report in a real headless Chromium: matrix renders, detail opens, filters apply.

Needs Debian's Chromium (/usr/bin/chromium) and the ``playwright`` Python package
(its driver only: browsers are never downloaded; the system Chromium is used).
The screenshots are kept under reports/artifacts/ for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conformance.report.html import write_html

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at "
                       "/usr/bin/chromium (apt-get install -y chromium)"),
]


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthetic import build  # tests/browser is on sys.path (rootdir-relative import)

    root = tmp_path_factory.mktemp("report")
    return write_html(build(root), root / "out")


def test_page_in_chromium(page_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda d: errors.append(f"dialog opened: {d.message}"))
        page.goto(page_path.as_uri())
        # The matrix rendered: the three runs' columns (numpy, the synthetic mxnet and
        # torch runs of tests/browser/synthetic.py), coloured cells.
        assert page.locator("section.op[data-op=batchnorm] th.grp").count() == 3
        assert page.locator("td.cell.a-no").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "report-matrix.png"), full_page=False)

        # A detail view opens on click and shows the fit, evidence and a snippet.
        cell = page.locator("section.op[data-op=batchnorm] tr[data-behaviour="
                            "momentum_convention] td.a-no").first
        cell.click()
        panel = page.locator("#panel")
        assert panel.is_visible()
        assert "weight_on_old" in panel.inner_text()
        assert panel.locator("pre.snippet").count() == 1
        assert "Fit" in panel.inner_text()
        # The hostile quote is shown as text, never executed or parsed as markup.
        assert "<script>alert('pwned')</script>" in panel.inner_text()
        assert panel.locator("script, img").count() == 0
        page.screenshot(path=str(ARTIFACTS / "report-detail.png"))
        page.keyboard.press("Escape")
        assert not panel.is_visible()

        # Filters: only batch norm, only cells that contradict the documentation.
        page.select_option("#f-op", "batchnorm")
        assert not page.locator("section.op[data-op=dropout]").is_visible()
        page.select_option("#f-status", "no")
        rows = page.locator("section.op[data-op=batchnorm] tbody tr:not(.hidden)")
        assert 1 <= rows.count() < 12
        page.uncheck("input.fw[value=numpy]")
        assert not page.locator("th.impl[data-fw=numpy]").first.is_visible()
        page.fill("#q", "epsilon")
        visible = [t for t in rows.all_inner_texts() if t.strip()]
        assert visible and all("epsilon" in t for t in visible)
        page.screenshot(path=str(ARTIFACTS / "report-filtered.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests


def test_report_artifact_copy(page_path: Path) -> None:
    """Keep the page itself beside the screenshots, so CI artifacts can be opened."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(page_path, ARTIFACTS / "report-synthetic.html")
    assert (ARTIFACTS / "report-synthetic.html").stat().st_size > 10_000
