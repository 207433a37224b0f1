"""Run directories in one archive, for the trip back from a machine that runs elsewhere.

A device machine (a GPU lent for a while, no network) sends back a few files of
limited size from its output folder, not a tree. ``pack`` puts run directories
into one ``tar.gz`` whose members are ``<run dir name>/...`` (never an absolute path
or ``..``), and ``unpack`` puts them back under a runs directory, where
``conformance report --runs`` reads them beside the local runs.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from conformance.runner import RESULTS

# What the device machine sends back per file (see the README's "GPU runs").
MAX_ARCHIVE_BYTES = 16 * 2**20


def pack(run_dirs: Sequence[Path], archive: Path, *,
         limit: int = MAX_ARCHIVE_BYTES) -> int:
    """Write ``archive``; returns its size. An archive over ``limit`` is removed and
    reported, since it would not come back."""
    names = [d.resolve().name for d in run_dirs]
    for d in run_dirs:
        if not (d / RESULTS).is_file():
            raise ValueError(f"{d}: not a run directory (no {RESULTS})")
    if len(set(names)) != len(names):
        raise ValueError(f"two run directories share a name: {', '.join(sorted(names))}")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for d, name in zip(run_dirs, names, strict=True):
            for path in sorted(d.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    tar.add(path, arcname=f"{name}/{path.relative_to(d).as_posix()}",
                            recursive=False)
    size = archive.stat().st_size
    if size > limit:
        archive.unlink()
        raise ValueError(f"{archive}: {size / 2**20:.1f} MiB, over the "
                         f"{limit / 2**20:.0f} MiB a file may take; pack fewer runs per "
                         "archive")
    return size


def _member_dir(member: tarfile.TarInfo, archive: Path) -> str:
    """The run directory a member belongs to; anything but a plain relative file or
    directory is refused before a byte is written."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"{archive}: member {member.name!r} leaves the runs directory")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"{archive}: member {member.name!r} is not a plain file")
    return path.parts[0]


def unpack(archive: Path, out: Path) -> list[Path]:
    """Extract ``archive`` under ``out``; returns the run directories it held. A run
    directory already under ``out`` is replaced, never merged."""
    import shutil

    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            dirs = sorted({_member_dir(m, archive) for m in members})
            runs = {d for d in dirs if any(m.name == f"{d}/{RESULTS}" for m in members)}
            if set(dirs) != runs or not runs:
                raise ValueError(f"{archive}: holds no run directories, or entries outside "
                                 f"one ({', '.join(sorted(set(dirs) - runs)) or 'empty'})")
            for d in dirs:
                shutil.rmtree(out / d, ignore_errors=True)
            out.mkdir(parents=True, exist_ok=True)
            for m in members:
                if m.isfile():
                    src = tar.extractfile(m)
                    assert src is not None  # a regular file always has contents
                    target = out / m.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with src, target.open("wb") as fh:
                        shutil.copyfileobj(src, fh)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ValueError(f"{archive}: not a tar.gz written by `conformance pack` "
                         f"({exc})") from None
    return [out / d for d in dirs]
