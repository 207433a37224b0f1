"""A run on a lent device machine: its own Python, this working tree, archives back.

The machine with a GPU has no network and its own Python (with PyTorch and JAX
preinstalled); nothing is installed there. The suite runs from the working tree
(``PYTHONPATH``), every framework once per device (``cpu`` too, so the GPU's effect
is measured at the same framework version), and each run directory comes back as one
``tar.gz`` in the output folder (``conformance.pack``), at most ``MAX_FILES`` of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from conformance.pack import pack
from conformance.runner import RESULTS

# What the device machine sends back from its output folder.
MAX_FILES = 8


def run_on_device(python: str, envs: Sequence[str], devices: Sequence[str], cases: Path,
                  work: Path, out: Path, timeout: float = 300.0) -> list[Path]:
    """Run ``envs`` with ``python`` on each device, then pack every run into ``out``.

    Cases are generated (with the device probes) unless ``cases`` already holds a
    manifest; bring them along to be sure the inputs are the same bytes as at home.
    Returns the archives written.
    """
    from conformance.cli import main

    if not (cases / "manifest.jsonl").exists():
        _ok(main(["generate", "--device-probes", "--out", str(cases)]), "generate")
    runs = work / "runs"
    for i, device in enumerate(devices):
        args = ["run", "--cases", str(cases), "--out", str(runs), "--device", device,
                "--timeout", str(timeout), "--jobs", "1", "--progress", "log",
                "--fresh" if i == 0 else "--resume"]
        for env in envs:
            args += ["--env", f"{env}={python}"]
        _ok(main(args), f"run --device {device}")
    run_dirs = sorted(p for p in runs.iterdir() if (p / RESULTS).is_file())
    if len(run_dirs) > MAX_FILES:
        raise ValueError(f"{len(run_dirs)} runs, but only {MAX_FILES} files come back: "
                         "run fewer environments or devices at a time")
    archives = []
    for d in run_dirs:
        archive = out / f"{d.name}.tar.gz"
        pack([d], archive)
        archives.append(archive)
    return archives


def _ok(code: int, step: str) -> None:
    if code != 0:
        raise RuntimeError(f"conformance {step} failed with exit code {code}")
