"""The device option on the CPU: run naming, header, report columns, diff, bad devices.

No GPU anywhere: a run "on cuda" here is the oracle adapter told it may take cuda,
which goes through every line a real GPU run does except the framework's own kernels.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance import runner
from conformance.adapters.numpy_ref import NumpyAdapter
from conformance.cases import generate, materialize
from conformance.cli import main
from conformance.compare.load import load_run
from conformance.diff import diff, load_side
from conformance.orchestrate import _command, _dir_of
from conformance.runner import RESULTS, read_records, run_dir_name, run_worker

FAMILIES = ["bn_momentum", "dropout"]


class _CudaOracle(NumpyAdapter):
    """The oracle row, willing to be placed on cuda (it computes on the CPU regardless)."""

    devices = ("cpu", "cuda")

    def environment(self) -> dict[str, str]:
        return {"device": f"{self.device} (stand-in)"}


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("device-cases")
    materialize(generate(FAMILIES), root)
    return root


def _header(run_dir: Path) -> dict[str, object]:
    return next(read_records(run_dir / RESULTS))


def test_run_dir_names_a_device_other_than_the_cpu() -> None:
    assert run_dir_name("torch", "2.13.0") == run_dir_name("torch", "2.13.0", "cpu")
    assert run_dir_name("torch", "2.13.0", "cuda:1").endswith("-cuda")
    assert not run_dir_name("torch", "2.13.0", "cpu").endswith("-cpu")


def test_cpu_run_goes_through_the_device_path(cases: Path, tmp_path: Path) -> None:
    assert run_worker("numpy", cases, tmp_path, device="cpu") == 0
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name == run_dir_name("numpy", NumpyAdapter().version())
    header = _header(run_dir)
    assert header["device"] == "cpu" and header["device_type"] == "cpu"
    assert load_run(run_dir).version == NumpyAdapter().version()


def test_a_cuda_run_is_its_own_run_beside_the_cpu_run(cases: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_worker("numpy", cases, tmp_path) == 0
    monkeypatch.setattr(runner, "_adapter", lambda framework: _CudaOracle())
    assert run_worker("numpy", cases, tmp_path, device="cuda:0") == 0
    cpu_dir, gpu_dir = sorted(tmp_path.iterdir())
    assert gpu_dir.name == cpu_dir.name + "-cuda"
    header = _header(gpu_dir)
    assert header["device"] == "cuda:0 (stand-in)" and header["device_type"] == "cuda"
    assert _dir_of(header) == gpu_dir.name  # where the orchestrator looks for it
    version = NumpyAdapter().version()
    assert load_run(gpu_dir).version == f"{version} (cuda)"
    # Two columns in the report, like two versions.
    out = tmp_path.parent / f"{tmp_path.name}-report"
    assert main(["report", "--runs", str(tmp_path), "--cases", str(cases),
                 "--out", str(out)]) == 0
    versions = {line.split(",")[1] for line in
                (out / "discrepancies.csv").read_text().splitlines()[1:]}
    assert versions == {version, f"{version} (cuda)"}


def test_diff_of_cpu_and_cuda_runs_compares_them(cases: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.cases.store import load_manifest

    run_worker("numpy", cases, tmp_path / "cpu")
    monkeypatch.setattr(runner, "_adapter", lambda framework: _CudaOracle())
    run_worker("numpy", cases, tmp_path / "gpu", device="cuda")
    manifest = {c.id: c for c in load_manifest(cases)}
    (a,) = (tmp_path / "cpu").iterdir()
    (b,) = (tmp_path / "gpu").iterdir()
    d = diff(load_side(a, manifest, cases), load_side(b, manifest, cases), manifest)
    assert d.frameworks == ["numpy"]
    assert d.compared_behaviours > 10 and d.compared_outputs > 10
    assert not d.changed  # the same computation: nothing to report
    assert d.b.versions["numpy"].endswith("(cuda)")


def test_an_adapter_without_the_device_writes_an_error_header(cases: Path,
                                                              tmp_path: Path) -> None:
    assert run_worker("numpy", cases, tmp_path, device="cuda") == 3
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name == run_dir_name("numpy", "unavailable", "cuda")
    header = _header(run_dir)
    err = header["error"]
    assert isinstance(err, dict) and err["type"] == "DeviceUnavailable"
    assert err["message"] == "numpy runs on cpu only, not cuda"
    run = load_run(run_dir)
    assert run.version == "unavailable (cuda)" and run.error


def test_a_device_the_machine_lacks_is_an_error_header(cases: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    class _NoGpu(_CudaOracle):
        def load(self) -> None:
            if self.device != "cpu":
                raise RuntimeError(f"device {self.device!r} unavailable: no CUDA device\n"
                                   "second line never shown")

    monkeypatch.setattr(runner, "_adapter", lambda framework: _NoGpu())
    assert run_worker("numpy", cases, tmp_path, device="cuda:3") == 3
    err = _header(tmp_path / run_dir_name("numpy", "unavailable", "cuda"))["error"]
    assert err == {"type": "RuntimeError",
                   "message": "device 'cuda:3' unavailable: no CUDA device"}


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "CPU", "tpu"])
def test_a_misspelt_device_is_one_line_and_exit_2(device: str) -> None:
    done = subprocess.run([sys.executable, "-m", "conformance", "worker", "--framework",
                           "numpy", "--device", device], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "expected cpu, cuda or cuda:N" in done.stderr


def test_the_orchestrator_passes_the_device_to_every_worker() -> None:
    cmd = _command("python", "torch", Path("c"), Path("o"), "cuda")
    assert cmd[cmd.index("--device") + 1] == "cuda"


def test_run_with_a_device_no_worker_can_use_reports_error_rows(cases: Path,
                                                                 tmp_path: Path) -> None:
    """Through the orchestrator, as the device session runs it."""
    out = tmp_path / "runs"
    assert main(["run", "--cases", str(cases), "--out", str(out), "--env",
                 f"numpy={sys.executable}", "--device", "cuda", "--progress", "off"]) == 0
    (run_dir,) = out.iterdir()
    assert run_dir.name.endswith("-cuda")
    assert load_run(run_dir).error == "DeviceUnavailable: numpy runs on cpu only, not cuda"


def test_device_probes_are_opt_in_and_decisive(tmp_path: Path) -> None:
    from conformance.cases.families import OPT_IN
    from conformance.cases.tolerances import is_decisive

    assert not [c for c in generate() if c.family in OPT_IN]
    probes = generate(sorted(OPT_IN))
    assert 3 <= len(probes) <= 8
    assert not [c for c in probes if c.informational]
    assert all(is_decisive(c.tolerance) for c in probes)
    eps = sorted(float(e) for c in probes if isinstance(e := c.get("epsilon"), float))
    assert eps[0] < 1e-5 < eps[-1]  # both sides of cuDNN's minimum
    assert main(["generate", "--device-probes", "--families", "dropout",
                 "--out", str(tmp_path)]) == 0
    families = {line.split('"family": "')[1].split('"')[0]
                for line in (tmp_path / "manifest.jsonl").read_text().splitlines()}
    assert "bn_device" in families and all(f.startswith("do_") or f in OPT_IN
                                           for f in families)


def test_device_command_runs_each_device_and_packs_each_run(cases: Path,
                                                            tmp_path: Path) -> None:
    """`conformance device` as the lent machine runs it, then the trip home."""
    from conformance.device import run_on_device

    out = tmp_path / "OUT"
    archives = run_on_device(sys.executable, ["numpy"], ["cpu", "cuda"], cases,
                             tmp_path / "work", out)
    version = NumpyAdapter().version()
    assert sorted(a.name for a in archives) == sorted(
        f"{run_dir_name('numpy', v, d)}.tar.gz"
        for v, d in ((version, "cpu"), ("unavailable", "cuda")))
    assert sorted(out.iterdir()) == sorted(archives)  # nothing else comes back
    home = tmp_path / "home"
    assert main(["unpack", *map(str, archives), "--out", str(home)]) == 0
    assert main(["report", "--runs", str(home), "--cases", str(cases), "--out",
                 str(tmp_path / "rep")]) == 0
    assert "unavailable (cuda)" in (tmp_path / "rep" / "index.html").read_text()


def test_device_command_generates_the_probes_when_no_cases_came_along(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance import device

    monkeypatch.setattr(device, "pack", lambda dirs, archive: 0)
    device.run_on_device(sys.executable, ["numpy"], ["cpu"], tmp_path / "cases",
                         tmp_path / "work", tmp_path / "out")
    manifest = (tmp_path / "cases" / "manifest.jsonl").read_text()
    assert '"family": "bn_device"' in manifest and '"family": "bn_layout"' in manifest
