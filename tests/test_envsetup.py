"""pip's configuration handed to uv, and install stamps (conformance/envsetup.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conformance import envsetup

# `pip config list` on the reference machine: PIP_* variables (":env:") and two files.
MACHINE = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
:env:.disable-pip-version-check='1'
:env:.find-links='/opt/wheels'
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
"""


def test_the_reference_machine_translates_to_uv_settings() -> None:
    settings = envsetup.uv_settings(envsetup.parse_pip_config(MACHINE), {})
    assert settings == {
        "UV_FIND_LINKS": "/opt/wheels",
        "UV_EXTRA_INDEX_URL": "file:///opt/pypi/simple file:///opt/pypi-more/simple",
        "UV_CONSTRAINT": "/etc/xdg/pip/constraints.txt",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
        "UV_HTTP_TIMEOUT": "180",
        "UV_INDEX_STRATEGY": "unsafe-best-match",
    }


def test_environment_overrides_install_section_overrides_global() -> None:
    text = ("global.index-url='https://global/simple'\n"
            ":env:.index-url='https://env/simple'\n"
            "install.index-url='https://install/simple'\n"
            "global.no-index='false'\n")
    assert envsetup.parse_pip_config(text) == {"index-url": "https://env/simple",
                                                "no-index": "false"}


def test_other_commands_sections_and_stray_lines_are_ignored() -> None:
    text = ("download.find-links='/elsewhere'\nnot a setting\n=x\n"
            "global.find-links=/unquoted\n")
    assert envsetup.parse_pip_config(text) == {"find-links": "/unquoted"}


def test_several_values_take_the_separator_uv_expects() -> None:
    pip = {"find-links": "/a\n/b", "constraint": "c1.txt c2.txt",
           "trusted-host": "h1 h2", "no-index": "yes", "pre": "1"}
    assert envsetup.uv_settings(pip, {}) == {
        "UV_FIND_LINKS": "/a,/b",  # uv splits this one on commas
        "UV_CONSTRAINT": "c1.txt c2.txt",
        "UV_INSECURE_HOST": "h1 h2",
        "UV_NO_INDEX": "1",
        "UV_PRERELEASE": "allow",
        "UV_INDEX_STRATEGY": "unsafe-best-match",
    }


def test_what_the_user_set_for_uv_wins() -> None:
    pip = {"find-links": "/opt/wheels", "cert": "/pip.pem"}
    environ = {"UV_FIND_LINKS": "/mine", "SSL_CERT_FILE": "/mine.pem"}
    assert envsetup.uv_settings(pip, environ) == {"UV_INDEX_STRATEGY": "unsafe-best-match"}


def test_no_pip_configuration_means_no_settings() -> None:
    """Not even bytecode at install: the noxfile lets Python write what it imports."""
    assert envsetup.uv_settings(envsetup.parse_pip_config(""), {}) == {}
    assert envsetup.uv_settings({"no-index": "0", "find-links": " ", "no-compile": "true"},
                                {}) == {}


def test_a_python_without_pip_gives_an_empty_listing(tmp_path: Path) -> None:
    assert envsetup.pip_config_list(str(tmp_path / "no-python")) == ""


def test_the_first_python_that_has_pip_answers(tmp_path: Path) -> None:
    fake = tmp_path / "python"  # a "python" whose pip reports one setting
    fake.write_text("#!/bin/sh\necho \"global.find-links='/fake'\"\n")
    fake.chmod(0o755)
    assert envsetup.pip_config_list(str(tmp_path / "no-python"), str(fake)) == (
        "global.find-links='/fake'\n")


def test_the_stamp_follows_arguments_project_metadata_and_sources(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("dependencies = ['numpy>=1.23']\n")
    stamp = envsetup.install_stamp(["torch==2.13.0", "-e", "."], tmp_path, {"UV_X": "1"})
    assert stamp == envsetup.install_stamp(["torch==2.13.0", "-e", "."], tmp_path, {"UV_X": "1"})
    assert stamp != envsetup.install_stamp(["torch==2.14.1", "-e", "."], tmp_path, {"UV_X": "1"})
    assert stamp != envsetup.install_stamp(["torch==2.13.0", "-e", "."], tmp_path, {"UV_X": "2"})
    (tmp_path / "pyproject.toml").write_text("dependencies = ['numpy>=2']\n")
    assert stamp != envsetup.install_stamp(["torch==2.13.0", "-e", "."], tmp_path, {"UV_X": "1"})


def test_is_current_only_for_the_same_stamp(tmp_path: Path) -> None:
    stamp_file = tmp_path / "stamp.txt"
    assert not envsetup.is_current(stamp_file, "a\n")
    stamp_file.write_text("a\n")
    assert envsetup.is_current(stamp_file, "a\n")
    assert not envsetup.is_current(stamp_file, "b\n")


# --- uv itself, on a miniature of the machine: the CPU build lies in a find-links folder,
# an extra index has only a newer build and only a newer `other`, the default index has
# the GPU build and the older `other`, and a constraints file caps `demo`.

def _wheel(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{info}/METADATA",
                    f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                    "Root-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


def _index(root: Path, wheels: dict[str, list[str]]) -> str:
    for name, versions in wheels.items():
        links = "".join(f'<a href="{_wheel(root / name, name, v).name}">x</a>' for v in versions)
        (root / name / "index.html").write_text(f"<html><body>{links}</body></html>")
    return root.as_uri()


def _uv_bin() -> str | None:
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return shutil.which("uv")
    return str(find_uv_bin())


@pytest.mark.skipif(_uv_bin() is None, reason="uv is not installed")
def test_uv_given_the_translated_settings_picks_what_pip_picks(tmp_path: Path) -> None:
    find_links = tmp_path / "wheels"
    _wheel(find_links, "demo", "2.0+cpu")
    extra = _index(tmp_path / "extra", {"demo": ["2.1"], "other": ["1.0"]})
    default = _index(tmp_path / "default", {"demo": ["2.0"], "other": ["0.9", "1.0"]})
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("demo<2.1\n")
    pip_list = (f"global.find-links='{find_links}'\n"
                f"global.extra-index-url='{extra}'\n"
                f"global.index-url='{default}'\n"
                f"global.constraint='{constraints}'\n")

    def resolve(settings: dict[str, str]) -> set[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
        env.update(settings, UV_NO_CONFIG="1", UV_CACHE_DIR=str(tmp_path / "cache"))
        done = subprocess.run(
            [str(_uv_bin()), "pip", "compile", "-", "--quiet", "--no-header",
             "--no-annotate", "--python-version", f"{sys.version_info[0]}.{sys.version_info[1]}"],
            input="demo\nother==0.9\n", capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stderr
        return {line.strip() for line in done.stdout.splitlines() if "==" in line}

    translated = envsetup.uv_settings(envsetup.parse_pip_config(pip_list), {})
    assert resolve(translated) == {"demo==2.0+cpu", "other==0.9"}
    # Without the find-links folder uv takes the default index's (GPU) build.
    assert resolve({"UV_INDEX_URL": default}) == {"demo==2.0", "other==0.9"}


def test_nox_sessions_let_python_write_the_bytecode_it_imports() -> None:
    """Environments are built without compiling (no UV_COMPILE_BYTECODE), so a session's
    processes must be able to write bytecode even where PYTHONDONTWRITEBYTECODE is set."""
    code = ("import os, runpy; runpy.run_path('noxfile.py'); "
            "print(repr(os.environ['PYTHONDONTWRITEBYTECODE']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1],
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "''"


def test_twins_that_install_the_same_files_are_kept_out(tmp_path: Path) -> None:
    """tf-keras requires `tensorflow`, whose wheel overwrites tensorflow-cpu's files."""
    pins = ("tensorflow-cpu==2.21.0", "tf-keras==2.21.0", "keras==3.15.1")
    assert envsetup.overrides(pins) == ['tensorflow ; sys_platform == "never"']
    assert envsetup.overrides(("torch==2.13.0",)) == []
    site = tmp_path / "site-packages"
    (site / "tensorflow_cpu-2.21.0.dist-info").mkdir(parents=True)
    (site / "tensorflow").mkdir()
    assert envsetup.installed_twins(site, pins) == []
    (site / "tensorflow-2.21.0.dist-info").mkdir()  # left by an install without overrides
    assert envsetup.installed_twins(site, pins) == ["tensorflow"]
    assert envsetup.installed_twins(site, ("torch==2.13.0",)) == []
    assert envsetup.clashes({"tensorflow-cpu": "2.21.0", "tensorflow": "2.21.0"}) == [
        "tensorflow-cpu==2.21.0 with tensorflow==2.21.0"]
