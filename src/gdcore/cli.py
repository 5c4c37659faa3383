"""The ``gdcore`` command line.

    gdcore demo         the main job: gradient descent on built-in problems, a table and pictures
    gdcore playground   write the learning-rate slider page (one self-contained HTML file)
    gdcore config       show version, compiler, OpenMP threads and the SIMD path in use
    gdcore bench        gdcore beside NumPy, scikit-learn and PyTorch, and the hardware bound
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


def cmd_demo(args) -> int:
    from gdcore.demo import run_demo

    _config.show_config()
    print()
    run_demo(args.output, pictures=not args.no_pictures, progress=not args.no_progress)
    return 0


def cmd_playground(args) -> int:
    from gdcore.playground import write_playground

    path = write_playground(args.output, args.function, n_rates=args.rates, steps=args.steps)
    print(f"wrote {path}: open it in a browser and move the learning-rate slider")
    return 0


def _thread_list(text: str) -> list:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of integers, got {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"must list thread counts >= 1, got {text!r}")
    return sorted(set(values))


def cmd_bench(args) -> int:
    import os

    from gdcore import bench

    scale = args.scale or ("quick" if args.quick else "full")
    threads = args.threads or sorted({1, os.cpu_count() or 1})
    report = bench.run_bench(scale, threads=threads, only=args.only, progress=not args.no_progress)
    print(report.summary())
    print()
    print(report.table())
    skipped = sorted({r.workload for r in report.results if r.status == "skipped"
                      and r.peer == "gdcore"})  # fmt: skip
    print()
    print("time ÷ gdcore: a peer's best time over gdcore's (above 1: gdcore is faster). % of bound:")
    print("the roofline time max(bytes / bandwidth, flops / FMA peak) over the best time.")
    if skipped:
        print(f"skipped workloads: {', '.join(skipped)}")
    if args.json:
        bench.write_json(report, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        try:
            paths = bench.plot_report(report, args.plot)
        except ImportError:
            print("--plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
            return 2
        print(f"wrote {', '.join(paths)}")
    print(f"finished in {report.seconds:.0f} s")
    failed = [r for r in report.results if r.status in ("disagrees", "error")]
    for r in failed:
        print(f"{r.workload}/{r.peer} ({r.threads} thread(s)): {r.status}: {r.agree or r.note}",
              file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


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
    demo = sub.add_parser(
        "demo", help="gradient descent on built-in problems: a table, pictures and the slider"
    )
    demo.add_argument("-o", "--output", default="gdcore-demo", help="folder for the pictures")
    demo.add_argument("--no-pictures", action="store_true", help="only print the table")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo)
    from gdcore.playground import DEFAULT_VIEWS

    play = sub.add_parser("playground", help="write the learning-rate slider page (HTML)")
    play.add_argument("--function", default="rosenbrock", choices=sorted(DEFAULT_VIEWS))
    play.add_argument("-o", "--output", default="playground.html", help="the page to write")
    play.add_argument("--rates", type=_positive_int, default=25, help="learning rates on the slider")
    play.add_argument("--steps", type=_positive_int, default=300, help="updates per path")
    play.set_defaults(func=cmd_playground)
    config = sub.add_parser("config", help="show version, compiler, threads and SIMD path")
    config.set_defaults(func=cmd_config)
    bench = sub.add_parser(
        "bench", help="time gdcore beside NumPy, scikit-learn and PyTorch, and the hardware bound"
    )
    bench.add_argument("--quick", action="store_true", help="small sizes: under a minute")
    bench.add_argument("--threads", type=_thread_list, default=None,
                       help="comma-separated thread counts (default: 1 and all cores)")  # fmt: skip
    bench.add_argument("--json", metavar="FILE", help="write every result as JSON")
    bench.add_argument("--plot", metavar="DIR", help="draw scaling pictures (matplotlib) in DIR")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.add_argument("--only", metavar="REGEX", help="only the workloads whose name matches")
    bench.add_argument("--scale", choices=["tiny", "quick", "full"], help=argparse.SUPPRESS)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"] + list(argv or sys.argv[1:]))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
