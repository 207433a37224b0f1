"""Release environments: companions as upper bounds, the pairing read back, failures."""

from __future__ import annotations

import stat
from pathlib import Path

from conformance.history.install import (
    UvInstaller,
    companion_bounds,
    companions,
    failure_reason,
    parse_freeze,
)

TF_ENV = ("tensorflow-cpu==2.21.0", "tf-keras==2.21.0", "keras==3.15.1")


def test_companions_become_upper_bounds_and_moving_pins_are_left_out() -> None:
    assert companion_bounds(TF_ENV, ["keras==3.0.0"]) == ("tensorflow-cpu<=2.21.0",
                                                          "tf-keras<=2.21.0")
    assert companion_bounds(TF_ENV, ["tensorflow-cpu==2.16.2", "tf_keras==2.16.0"]) == (
        "keras<=3.15.1",)


def test_the_pairing_is_what_the_resolver_chose() -> None:
    frozen = parse_freeze("Keras==3.0.0\ntensorflow-cpu==2.16.2\ntf_keras==2.16.0\n"
                          "-e file:///work\nnumpy==1.26.4\n")
    assert frozen["tf-keras"] == "2.16.0" and frozen["keras"] == "3.0.0"
    assert companions(frozen, TF_ENV, ["keras==3.0.0"]) == {"tensorflow-cpu": "2.16.2",
                                                             "tf-keras": "2.16.0"}


def test_failure_reason_is_uv_explanation_in_one_line() -> None:
    stderr = ("Using Python 3.11.7 environment at: /x\n"
              "  \u00d7 No solution found when resolving dependencies:\n"
              "  ╰─▶ Because tensorflow-cpu==2.21.0 depends on keras>=3.12.0 and you require "
              "keras==3.0.0, we can conclude that your requirements are unsatisfiable.\n")
    assert failure_reason(stderr) == (
        "No solution found when resolving dependencies: Because tensorflow-cpu==2.21.0 "
        "depends on keras>=3.12.0 and you require keras==3.0.0, we can conclude that your "
        "requirements are unsatisfiable.")
    assert failure_reason("x" * 1000, limit=50).endswith("...")
    assert failure_reason("") == "no message"


def _fake_uv(tmp_path: Path, install_exit: int) -> str:
    """A uv stand-in: `venv` makes bin/python, `pip install` fails or succeeds,
    `pip freeze` lists two packages. It records its arguments."""
    script = tmp_path / "uv"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {tmp_path}/calls
if [ "$1" = venv ]; then mkdir -p "$6/bin" && touch "$6/bin/python"; exit 0; fi
if [ "$2" = compile ]; then
  printf 'keras==9.9\\ntensorflow-cpu==2.16.2\\n    # via x\\n'; exit 0
fi
if [ "$2" = install ]; then
  [ {install_exit} = 0 ] || echo "  \u00d7 No solution found: keras==9.9 is not on the index" >&2
  exit {install_exit}
fi
printf 'keras==3.0.0\\ntensorflow-cpu==2.16.2\\n'
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_uv_installer_reports_a_failed_install_with_the_reason(tmp_path: Path) -> None:
    got = UvInstaller(_fake_uv(tmp_path, 1), "python3.11", tmp_path).install(
        tmp_path / "env", ["keras==9.9", "tensorflow-cpu<=2.21.0"])
    assert not got.ok and got.reason == "No solution found: keras==9.9 is not on the index"
    calls = (tmp_path / "calls").read_text().splitlines()
    assert "install -q --python" in calls[2] and calls[2].endswith(f"-e {tmp_path}")
    assert calls[1].endswith("requirements.in") and " compile " in f" {calls[1]} "
    assert (tmp_path / "env" / "requirements.in").read_text() == (
        f"keras==9.9\ntensorflow-cpu<=2.21.0\n-e {tmp_path}\n"), "the release, bounds, suite"
    assert "keras==9.9 tensorflow-cpu==2.16.2 --override" in calls[2], \
        "installed: the exact versions the resolver chose with the twin in"


def test_uv_installer_reads_back_the_versions(tmp_path: Path) -> None:
    installer = UvInstaller(_fake_uv(tmp_path, 0), "python3.11", tmp_path)
    got = installer.install(tmp_path / "env", ["keras==3.0.0"])
    assert " compile " not in (tmp_path / "calls").read_text(), "no twin: one step"
    assert got.ok and got.python == str(tmp_path / "env" / "bin" / "python")
    assert got.versions == {"keras": "3.0.0", "tensorflow-cpu": "2.16.2"}
    installer.remove(tmp_path / "env")
    assert not (tmp_path / "env").exists()


def test_the_twin_that_installs_the_same_files_is_kept_out() -> None:
    from conformance.envsetup import clashes, overrides

    assert overrides(["tensorflow-cpu==2.16.1", "tf-keras==2.16.0"]) == [
        'tensorflow ; sys_platform == "never"']
    assert overrides(["keras==3.0.0", "tensorflow-cpu<=2.21.0"]) == [
        'tensorflow ; sys_platform == "never"'], "a bounded companion counts too"
    assert overrides(["torch==2.13.0"]) == []
    assert clashes({"tensorflow-cpu": "2.16.1", "tensorflow": "2.16.2"}) == [
        "tensorflow-cpu==2.16.1 with tensorflow==2.16.2"]
    assert clashes({"tensorflow-cpu": "2.16.2"}) == []


def test_the_override_reaches_uv_and_a_clash_is_an_install_failure(tmp_path: Path) -> None:
    """A uv that installs the twin anyway: the release is not run on a mix of two wheels."""
    script = tmp_path / "uv"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {tmp_path}/calls
if [ "$1" = venv ]; then mkdir -p "$6/bin" && touch "$6/bin/python"; exit 0; fi
if [ "$2" = install ]; then exit 0; fi
if [ "$2" = compile ]; then printf 'tensorflow-cpu==2.16.1\\ntf-keras==2.16.0\\n'; exit 0; fi
printf 'tensorflow-cpu==2.16.1\\ntensorflow==2.16.2\\n'
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    got = UvInstaller(str(script), "python3.11", tmp_path).install(
        tmp_path / "env", ["tensorflow-cpu==2.16.1", "tf-keras==2.16.0"])
    assert not got.ok
    assert got.reason == "tensorflow-cpu==2.16.1 with tensorflow==2.16.2 install the same files"
    (install,) = [c for c in (tmp_path / "calls").read_text().splitlines() if " install " in c]
    assert f"--override {tmp_path / 'env' / 'overrides.txt'}" in install
    assert (tmp_path / "env" / "overrides.txt").read_text() == (
        'tensorflow ; sys_platform == "never"\n')
