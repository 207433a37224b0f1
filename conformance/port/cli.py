"""``conformance port``: the subcommand (registered in ``conformance.cli`` in one line).

    conformance port torch.nn.BatchNorm2d keras.layers.BatchNormalization
    conformance port torch.nn.BatchNorm2d mxnet.gluon.nn.BatchNorm --checkpoint model.pt
    conformance port --defaults          # every default pair (what `nox -s port` runs)

Each port is written to ``<out>/<source>__<target>.json`` (what the HTML porting table
reads); a checkpoint's variables in the target's names go to ``<out>/<pair>.npz``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.environments import ENV_BY_NAME, ENVIRONMENTS

if TYPE_CHECKING:  # the CLI starts light: the port's modules load when it runs
    from conformance.port.core import Port, Side

# The layer users port most in each framework (channels first, rank 4: a CNN's BN).
DEFAULTS: tuple[str, ...] = (
    "torch.nn.BatchNorm2d", "keras.layers.BatchNormalization",
    "tf_keras.layers.BatchNormalization", "mxnet.gluon.nn.BatchNorm", "flax.linen.BatchNorm",
    "paddle.nn.BatchNorm2D", "keras_jax:keras.layers.BatchNormalization",
    "keras_torch:keras.layers.BatchNormalization")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("port", help="carry a batch-norm layer between frameworks, "
                                    "verified by running both")
    p.add_argument("source", nargs="?", help="e.g. torch.nn.BatchNorm2d")
    p.add_argument("target", nargs="?", help="e.g. keras.layers.BatchNormalization, or "
                                              "numpy (a NumPy predictor: the oracle under "
                                              "the source's measured conventions)")
    p.add_argument("--defaults", action="store_true",
                   help="every ordered pair of " + ", ".join(DEFAULTS) + ", and each of "
                        "them to numpy (the oracle under its measured conventions)")
    p.add_argument("--checkpoint", type=Path, help="a real checkpoint of the source")
    p.add_argument("--momentum", default="default",
                   help="the checkpoint's source momentum argument (default: its default)")
    p.add_argument("--epsilon", default="default",
                   help="the checkpoint's source epsilon argument (default: its default)")
    p.add_argument("--runs", type=Path, default=Path("reports/runs"))
    p.add_argument("--cases", type=Path, default=Path("cases/generated"))
    p.add_argument("--out", type=Path, default=Path("reports/ports"))
    p.add_argument("--env", action="append", default=[], metavar="NAME=PYTHON",
                   help="an environment's interpreter (default: .nox/env-NAME/bin/python)")


def _number(text: str, option: str) -> float | str:
    if text in ("default", "none"):  # "none": torch's momentum=None (a cumulative average)
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected a number or 'default'") from None


def _pythons(specs: list[str]) -> dict[str, str]:
    from conformance.port import passes

    out = {e.name: p for e in ENVIRONMENTS if (p := passes.default_python(e.name))}
    for spec in specs:
        name, sep, python = spec.partition("=")
        if not sep or name not in ENV_BY_NAME:
            raise ValueError(f"--env {spec!r}: expected NAME=PYTHON with NAME one of "
                             f"{', '.join(ENV_BY_NAME)}")
        out[name] = python
    return out


def pairs(args: argparse.Namespace) -> list[tuple[Side, Side]]:
    from conformance.port.core import side

    if args.defaults:
        if args.source or args.checkpoint:
            raise ValueError("--defaults takes no SOURCE, TARGET or --checkpoint")
        sides = [side(n) for n in DEFAULTS]
        return [(a, b) for a in sides for b in [*sides, side("numpy")] if a != b]
    if not args.source or not args.target:
        raise ValueError("port needs SOURCE and TARGET (or --defaults)")
    # A layer ported to its own framework is a round trip through its variables: allowed.
    return [(side(args.source), side(args.target))]


def _check(args: argparse.Namespace) -> None:
    if not (args.runs.is_dir()):
        raise ValueError(f"--runs {args.runs}: not a directory of runs (run `conformance "
                         "run` first)")
    if not (args.cases / "manifest.jsonl").is_file():
        raise ValueError(f"--cases {args.cases}: no case manifest (run `conformance "
                         "generate`)")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out}: not a directory")
    if args.checkpoint is not None:
        from conformance.port.checkpoint import check_format

        check_format(args.checkpoint)


def file_name(p: Port) -> str:
    return f"{p.source.label}__{p.target.label}".replace(":", "+").replace("/", "_")


def write(p: Port, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{file_name(p)}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(p.to_json(), indent=1, default=str))
    tmp.replace(path)
    return path


def cmd_port(args: argparse.Namespace) -> int:
    import numpy as np

    from conformance.port.carry import port_checkpoint
    from conformance.port.core import port_many
    from conformance.port.render import render

    todo = pairs(args)
    _check(args)
    pythons = _pythons(args.env)
    work = args.out / "work"
    if args.checkpoint is not None:
        (src, dst), = todo
        p, arrays = port_checkpoint(src, dst, args.checkpoint, args.runs, args.cases, work,
                                    pythons, _number(args.momentum, "--momentum"),
                                    _number(args.epsilon, "--epsilon"))
        ports = [p]
        if arrays:
            target = args.out / f"{file_name(p)}.npz"
            np.savez(target, **arrays)  # type: ignore[arg-type]
            print(f"variables in {dst.label}'s names: {target}")
    else:
        ports = port_many(todo, args.runs, args.cases, work, pythons)
    for p in ports:
        print(render(p))
        print(f"written: {write(p, args.out)}\n")
    return 0
