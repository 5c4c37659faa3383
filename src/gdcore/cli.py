"""The ``gdcore`` command line.

    gdcore demo      show the configuration, then race every optimizer down the same bowl
    gdcore config    show version, compiler, OpenMP threads and the SIMD path in use
"""

from __future__ import annotations

import argparse
import sys

from gdcore import _config


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def cmd_demo(args) -> int:
    from gdcore._race import format_table, race

    _config.show_config()
    print()
    print("Race: every optimizer down the same two-weight bowl E = ½ mean (x·w − t)²,")
    print(f"from w = (-2, 3) until E − E* < {args.tol:g} (at most {args.max_steps} steps).")
    print()
    results = race(max_steps=args.max_steps, tol=args.tol)
    print(format_table(results))
    return 0


def cmd_config(args) -> int:
    _config.show_config()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdcore",
        description="Fast gradient descent with a compiled core. Run 'gdcore demo' to start.",
    )
    parser.add_argument("--version", action="version", version=_config.config()["gdcore"])
    sub = parser.add_subparsers(dest="command", metavar="command")
    demo = sub.add_parser("demo", help="show the configuration and race the optimizers")
    demo.add_argument("--max-steps", type=_positive_int, default=5000, help="step limit per racer")
    demo.add_argument("--tol", type=_positive_float, default=1e-10, help="arrival: E - E* < tol")
    demo.set_defaults(func=cmd_demo)
    config = sub.add_parser("config", help="show version, compiler, threads and SIMD path")
    config.set_defaults(func=cmd_config)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"] + list(argv or sys.argv[1:]))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
