"""The ``tda-interp`` command line: ``run``, ``report`` and ``demo``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tda_interp import __version__
from tda_interp.exceptions import ConfigError, TdaInterpError, TdaInterpWarning

__all__ = ["main"]

EXAMPLE_CONFIG = """example config (all keys: see the README):

  [model]
  factory = "mypkg.models:make_model"      # or "models.py:make_model"
  checkpoints = "checkpoints/step_*.pt"    # glob or folder (.pt/.pth/.safetensors)
  [inputs]
  factory = "mypkg.data:probe_inputs"
  [capture]
  layers = ["encoder.layer.*.output"]
  reduction = "mean"
  [homology]
  views = ["raw", "pc_pairs2"]
"""


@contextmanager
def _progress(quiet: bool) -> Iterator:
    """A rich progress bar on stderr, handed to the pipeline as ``progress(desc, done, total)``."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.fields[stage]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("", total=None, stage="homology")

        def update(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield update


def _cmd_run(args: argparse.Namespace) -> int:
    from tda_interp.config import load_config
    from tda_interp.pipeline import run_from_config

    config = load_config(args.config)
    t0 = time.perf_counter()
    with _progress(args.quiet) as progress:
        outcome = run_from_config(
            config.with_progress(progress), run_dir=args.run_dir, overwrite=args.overwrite
        )
    failed = f" ({outcome.failed} recorded as failures)" if outcome.failed else ""
    print(
        f"Run {outcome.run_dir}: {outcome.computed} results computed{failed}, "
        f"{outcome.skipped} already done ({len(outcome.checkpoints)} checkpoints x "
        f"{len(outcome.layers)} layers x {len(outcome.views)} views) in "
        f"{time.perf_counter() - t0:.1f} s."
    )
    if args.report:
        from tda_interp.reports import write_report

        path = write_report(outcome.run_dir, args.report, title=config.title)
        print(f"Report: {Path(path).resolve()}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from tda_interp.reports import write_report

    runs: list[Path] = list(args.run_dir)
    if len(runs) == 1:
        path = write_report(
            runs[0],
            args.output,
            title=args.title,
            correction=args.correction,
            control=args.control,
        )
        print(f"Report: {Path(path).resolve()}")
        return 0
    # several runs: the comparison page at OUTPUT, each run's report beside it, linked both ways
    from tda_interp.compare import compare_runs
    from tda_interp.reports.compare import write_compare_report

    out: Path = args.output
    names: list[str] = []
    for run in runs:
        name = Path(run).resolve().name or "run"
        names.append(name if name not in names else f"{name}-{len(names) + 1}")
    pages = [out.with_name(f"{out.stem}.{name}{out.suffix or '.html'}") for name in names]
    if out.resolve() in {p.resolve() for p in pages}:
        raise ConfigError(
            f"report: the comparison page {str(out)!r} would overwrite a run's report; pass "
            "another -o name."
        )
    comparison = compare_runs(runs, control=args.control)
    back = [(out.name, "comparison of the runs")]
    for run, page in zip(runs, pages, strict=True):
        write_report(
            run,
            page,
            title=args.title,
            correction=args.correction,
            control=args.control,
            links=back,
        )
        print(f"Report: {page.resolve()}")
    links = [(p.name, f"report of {n}") for p, n in zip(pages, names, strict=True)]
    path = write_compare_report(comparison, out, links=links)
    print(f"Comparison: {Path(path).resolve()}")
    for note in comparison.notes:
        print(f"tda-interp report: note: {note}", file=sys.stderr)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from tda_interp.compare import compare_runs
    from tda_interp.options import DistanceOptions, ExecutionOptions
    from tda_interp.reports.compare import write_compare_report

    options = DistanceOptions(
        metric=args.metric,
        order=args.order,
        ground=args.ground,
        relative=not args.absolute,
        infinite=args.infinite,
    )
    execution = ExecutionOptions(executor=args.executor, cache=not args.no_cache)
    t0 = time.perf_counter()
    comparison = compare_runs(
        args.runs,
        dim=args.dim,
        options=options,
        checkpoint=args.checkpoint,
        control=args.control,
        replicates=args.replicates,
        execution=execution,
    )
    path = write_compare_report(comparison, args.output, title=args.title)
    print(
        f"Compared {len(comparison.runs)} runs ({len(comparison.distances)} layer pairs) in "
        f"{time.perf_counter() - t0:.1f} s."
    )
    print(f"Report: {Path(path).resolve()}")
    if args.csv is not None:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        comparison.to_frame().to_csv(args.csv, index=False)
        print(f"Table: {args.csv.resolve()}")
    for note in comparison.notes:
        print(f"tda-interp compare: note: {note}", file=sys.stderr)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from tda_interp.demo import run_demo

    t0 = time.perf_counter()

    def on_train(step: int, loss: float, acc: float) -> None:
        if not args.quiet:
            print(
                f"train step {step:>5}/{args.steps}: train loss {loss:.4f}, test accuracy "
                f"{acc:.3f} ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    with _progress(args.quiet) as progress:
        result = run_demo(
            args.output,
            steps=args.steps,
            every=args.every,
            seed=args.seed,
            on_train=on_train,
            progress=progress,
        )
    print(f"Demo finished in {time.perf_counter() - t0:.1f} s.")
    print(f"Run directory: {result.run.run_dir.resolve()}")
    print(f"Config (rerun with `tda-interp run`): {result.config.resolve()}")
    print(f"Report: {result.report.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="tda-interp",
        description="Persistent homology of neural-network activations: barcodes, Betti curves "
        "and an offline HTML report, per layer and checkpoint.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="capture, compute and store diagrams for every checkpoint and layer of a config",
        description="Run the pipeline described by a TOML config; resumes an existing run.",
        epilog=EXAMPLE_CONFIG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("config", type=Path, help="TOML config file")
    run.add_argument(
        "-o",
        "--run-dir",
        type=Path,
        default=None,
        help="run directory (overrides run_dir in the config)",
    )
    run.add_argument(
        "--overwrite", action="store_true", help="discard a run written with other parameters"
    )
    run.add_argument(
        "--report", type=Path, default=None, metavar="HTML", help="also write a report here"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="write a self-contained HTML report of a run")
    report.add_argument(
        "run_dir",
        type=Path,
        nargs="+",
        help="run directory written by `run` or `demo`; with several, OUTPUT is the page that "
        "compares them (tda-interp compare) and each run's report is written beside it "
        "(OUTPUT-stem.RUN-NAME.html), linked both ways",
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("report.html"),
        help="HTML file (default: report.html)",
    )
    report.add_argument("--title", default=None, help="report title")
    report.add_argument(
        "--correction",
        choices=("diagram", "bonferroni", "bh"),
        default=None,
        help="which significance calls to count: per diagram, Bonferroni or Benjamini-Hochberg "
        "over the whole run (default: the run's [summary] correction)",
    )
    report.add_argument(
        "--control",
        type=Path,
        default=None,
        metavar="RUN_CTRL",
        help="a control run directory (untrained, shuffled labels...) drawn beside the run in "
        "every headline figure",
    )
    report.set_defaults(func=_cmd_report)

    compare = sub.add_parser(
        "compare",
        help="compare the diagrams of runs layer by layer, with references, CKA and a report",
        description="Layer x layer distances between the diagrams of runs (and within each), "
        "trajectories through training, the replicate reference of every layer and linear CKA "
        "on the same probe inputs, written as an offline HTML page.",
    )
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="run directories")
    compare.add_argument(
        "-o", "--output", type=Path, default=Path("compare.html"), help="HTML file"
    )
    compare.add_argument(
        "--control", type=Path, default=None, metavar="RUN_DIR",
        help="an untrained or shuffled-label run, compared with each run beside them",
    )  # fmt: skip
    compare.add_argument("--dim", type=int, default=1, help="homology dimension (default: 1)")
    compare.add_argument(
        "--metric",
        default="bottleneck",
        choices=("bottleneck", "wasserstein", "landscape", "betti", "image"),
        help="distance between diagrams (default: bottleneck)",
    )
    compare.add_argument("--order", type=float, default=1.0, help="p of p-Wasserstein")
    compare.add_argument(
        "--ground", type=float, default=float("inf"),
        help="q of the L^q ground metric between bars (default: inf, max(|db|, |dd|))",
    )  # fmt: skip
    compare.add_argument(
        "--absolute", action="store_true", help="compare absolute, not relative, diagrams"
    )
    compare.add_argument(
        "--infinite", default="match", choices=("match", "drop"),
        help="essential bars: matched in order of birth, or dropped (default: match)",
    )  # fmt: skip
    compare.add_argument(
        "--checkpoint", default=None, help="checkpoint label compared (default: each run's last)"
    )
    compare.add_argument(
        "--replicates", type=int, default=3,
        help="random half splits per layer for the replicate reference (0: none; default: 3)",
    )  # fmt: skip
    compare.add_argument(
        "--executor", default="auto", help="auto | serial | processes[:N] | dask:ADDRESS"
    )
    compare.add_argument("--no-cache", action="store_true", help="do not use the cache")
    compare.add_argument("--csv", type=Path, default=None, help="also write the table here")
    compare.add_argument("--title", default=None, help="page title")
    compare.set_defaults(func=_cmd_compare)

    demo = sub.add_parser(
        "demo",
        help="train a grokking model on the CPU, replay its checkpoints and write a report",
    )
    demo.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("tda-interp-demo"),
        help="output folder (default: tda-interp-demo)",
    )
    demo.add_argument("--steps", type=int, default=3000, help="training steps (default: 3000)")
    demo.add_argument("--every", type=int, default=250, help="checkpoint interval (default: 250)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tda-interp`` and ``python -m tda_interp``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    received: list[int] = []

    def on_sigterm(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt  # unwind like Ctrl-C: workers stopped, results kept

    restore = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGTERM, on_sigterm)
    with warnings.catch_warnings(record=True) as caught:
        # every warning is printed below, once, as a line of its own (Python would hide the
        # DeprecationWarning that says how the keys of a 0.1 config moved)
        warnings.simplefilter("default")
        try:
            return int(args.func(args))
        except TdaInterpError as err:
            print(f"tda-interp {args.command}: error: {err}", file=sys.stderr)
            return 2
        except OSError as err:  # a full disk, a folder where a file was expected...
            print(f"tda-interp {args.command}: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            what = "terminated (SIGTERM)" if received else "interrupted"
            print(f"{what}; finished results are kept, rerun to resume", file=sys.stderr)
            return 128 + signal.SIGTERM if received else 130
        finally:
            if restore is not None:
                signal.signal(signal.SIGTERM, restore)
            for w in caught:
                kind = (
                    "warning" if issubclass(w.category, TdaInterpWarning) else w.category.__name__
                )
                print(f"tda-interp {args.command}: {kind}: {w.message}", file=sys.stderr)
