"""The study's verbs on the ``textrnn`` command line: ``compare``, ``bench``, ``report``.

Registered through the entry-point group ``textrnn.commands`` (pyproject.toml), so
the core's command line finds them without importing this package by name. Each
``add_*`` function adds one subparser; the work happens in the module it names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import _data_spec, _log, _settings, add_run_options, add_settings
from ..config import MODELS, PRESET_NAMES
from ..errors import TextrnnError


def add_compare(sub) -> None:
    p = sub.add_parser("compare", help="train several models and presets, print one table",
                       description="Train every --models x --presets pair on the same splits, "
                                   "with the TF-IDF + linear SVM baseline beside them.")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                   help="cells to train (rnn gru)")
    p.add_argument("--presets", nargs="+", choices=PRESET_NAMES, default=list(PRESET_NAMES[::-1]),
                   help="presets to train (seed default)")
    p.add_argument("--protocols", nargs="+", choices=("split", "dedupe", "cv"), default=["split"],
                   help="split: the assignment's split; dedupe: the same without duplicate "
                        "texts; cv: stratified cross-validation, --folds folds (split)")
    p.add_argument("--folds", type=int, default=5,
                   help="number of cross-validation folds for the cv protocol (5)")
    p.add_argument("--seeds", nargs="+", type=int, default=[42],
                   help="training seeds, one run each (for split and dedupe; 42)")
    p.add_argument("--reuse", action="store_true",
                   help="read back runs already finished in --out with the same settings and "
                        "data instead of training them again (to go on after a stop)")
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the TF-IDF + linear SVM baseline on the same splits (on)")
    add_settings(p, skip=("model", "preset", "seed"))
    add_run_options(p, "directory for the run directories (runs)", "runs")
    p.add_argument("--results", metavar="DIR", default="results",
                   help="directory for the table, compare.md and compare.json (results)")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> None:
    """Every --models x --presets pair (and the TF-IDF baseline) under each protocol."""
    from ..api import resolve_device
    from .compare import run_compare, table
    overrides = {k: v for k, v in _settings(args, skip=("model", "preset", "seed")).items()
                 if v is not None}
    result = run_compare(args.models, args.presets, _data_spec(args), args.protocols, args.seeds,
                         args.baseline, args.out, resolve_device(args.device), not args.quiet,
                         _log, args.results, folds=args.folds, reuse=args.reuse,
                         **overrides)
    print(table(result["summary"]))
    print(f"({result['seconds']:.0f} s; table in {Path(args.results) / 'compare.md'} and "
          f"compare.json)")


def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the RNN/GRU implementations side by side",
                       description="Training and inference tokens/s of the assignment's loop, "
                                   "textrnn reference/loop/fast and torch.nn, in one process, "
                                   "with ratios and the memory saved for backward.")
    p.add_argument("--cells", nargs="+", choices=MODELS, default=["gru", "rnn"],
                   help="cells to benchmark (gru rnn)")
    p.add_argument("--quick", action="store_true",
                   help="only the assignment's shape (batch 32, 100 steps, hidden 128)")
    p.add_argument("--shapes", nargs="+", choices=("assignment", "long", "latency"),
                   help="shapes to time (default all): assignment = batch 32, 100 steps, "
                        "hidden 128; long = batch 32, 400 steps, hidden 256; latency = "
                        "batch 1, 400 steps, hidden 128, inference only")
    p.add_argument("--rounds", type=int, default=5,
                   help="interleaved timing rounds; ratios are taken per round (5)")
    p.add_argument("--iters", type=int, default=3,
                   help="training and inference steps per variant per round (3)")
    p.add_argument("--full-run", action="store_true",
                   help="also time a full default-preset training on the BBC data")
    p.add_argument("--device", default="cpu",
                   help="cpu (default) or cuda: on cuda every variant runs on the GPU, "
                        "torch.nn is cuDNN's, and the CPU targets are not checked")
    p.add_argument("--json", action="store_true",
                   help="print the results as JSON on stdout (the tables go to stderr)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> None:
    """Speed of the implementations side by side (see textrnn.study.bench). With --json
    the tables go to stderr and stdout holds only the JSON."""
    import json
    import sys

    from . import bench
    if args.shapes and len(set(args.shapes)) != len(args.shapes):
        raise TextrnnError(f"--shapes: repeated shape in {' '.join(args.shapes)}")
    if args.quick and args.shapes:
        raise TextrnnError("--quick is --shapes assignment: give one of them")
    names = ["assignment"] if args.quick else args.shapes or list(bench.SHAPES)
    shapes = [bench.SHAPES[n] for n in names]
    bench.check_options(shapes, args.cells, args.rounds, args.iters)
    from ..api import resolve_device
    device = resolve_device(args.device)
    if args.full_run and device != "cpu":
        raise TextrnnError("--full-run times the CPU training; drop it with --device cuda")
    out = sys.stderr if args.json else sys.stdout
    say = lambda t: print(t, file=out, flush=True)  # noqa: E731
    env = bench.environment(device)
    say(bench.describe(env) + "\n")
    rows = bench.run(shapes, args.cells, rounds=args.rounds, iters=args.iters,
                     log=lambda t: say(t + "\n"), device=device)
    # the speed targets are the CPU's (issues 3 and 15); CUDA's figures stand alone
    targets = bench.check_targets(rows) if device == "cpu" else []
    if targets:
        say(bench.targets_text(targets))
    result = {"environment": env, "shapes": names, "rounds": args.rounds, "iters": args.iters,
              "rows": rows, "targets": targets}
    if args.full_run:
        for model in args.cells:
            seconds, m = bench.full_run_seconds(model)
            result[f"full_run_{model}"] = {"seconds": seconds, "epochs": len(m["history"]),
                                           "test_accuracy": m["test"]["accuracy"]}
            say(f"full default {model} training on BBC: {seconds:.1f} s wall "
                f"({len(m['history'])} epochs, test accuracy {100 * m['test']['accuracy']:.2f}%)")
    if args.json:
        print(json.dumps(result, indent=2))


def add_report(sub) -> None:
    from .report import DEFAULT_TITLE
    p = sub.add_parser("report", help="write a one-page CVPR-format PDF report of some runs",
                       description="Write a one-page report in the CVPR layout (two columns, "
                                   "10-point Times, US letter) from run directories: method, "
                                   "setup, a results table, a figure and a discussion whose "
                                   "numbers all come from the runs' metrics.json and "
                                   "config.json. The .tex and the figure are written beside "
                                   "the PDF, in --out. Needs pdflatex "
                                   "(bash scripts/install-latex.sh).")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories written by 'textrnn train' or 'compare' (any with a "
                        "config.json and metrics.json; a model other than rnn/gru, e.g. "
                        "tfidf-svm, is shown as a baseline)")
    p.add_argument("--out", metavar="DIR", default="report",
                   help="folder to write report.pdf, report.tex and figure.pdf in (report)")
    p.add_argument("--style-dir", metavar="DIR",
                   help="folder of the official CVPR author kit (with cvpr.sty): use its "
                        "style instead of the built-in CVPR layout")
    p.add_argument("--title", default=DEFAULT_TITLE,
                   help=f"title of the report ({DEFAULT_TITLE!r})")
    p.add_argument("--author", metavar="TEXT",
                   help="author line (default: 'Generated by textrnn from N runs')")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> None:
    """The one-page CVPR-format report of some run directories (see textrnn.study.report)."""
    from .report import write_report
    r = write_report(args.run_dirs, args.out, style_dir=args.style_dir, title=args.title,
                     author=args.author)
    print(f"report: {r.pdf} ({r.pages} page; LaTeX source {r.tex}, figure {r.figure})")
