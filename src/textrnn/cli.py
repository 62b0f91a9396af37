"""Command line: ``textrnn train | test | predict | serve | export | compare ...``.

Problems with the user's input end as one ``textrnn: error: ...`` line and exit
status 1; argparse's own usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .config import MODELS, POOLINGS, PRESETS, preset
from .errors import TextrnnError


def _data_args(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    d = (lambda v: v) if defaults else (lambda v: None)
    g = p.add_argument_group("data and split")
    g.add_argument("--data", metavar="PATH", default=None,
                   help="CSV file, folder-per-class directory or .zip; default: the BBC dataset "
                        "from $TEXTRNN_DATA (else the user cache dir), downloaded if absent"
                        + ("" if defaults else "; default: the data the run was trained on"))
    g.add_argument("--text-column", default=d("Text"), help="CSV column holding the text (Text)")
    g.add_argument("--label-column", default=d("Label"),
                   help="CSV column holding the label, an int id or a name (Label)")
    g.add_argument("--split-seed", type=int, default=d(42),
                   help="random_state of the 70/15/15 split (42, the assignment's)")
    g.add_argument("--stratify", action=argparse.BooleanOptionalAction, default=d(False),
                   help="stratify the split by label (off, as in the assignment)")
    g.add_argument("--dedupe", action=argparse.BooleanOptionalAction, default=d(False),
                   help="drop exact duplicate texts before splitting (BBC has 98)")


def _data_spec(args, base=None):
    from .runs import DataSpec
    base = base or DataSpec()
    keys = ("text_column", "label_column", "split_seed", "stratify", "dedupe")
    vals = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    if args.data is not None:
        vals["path"] = str(Path(args.data).resolve())  # so `test` works from anywhere
    return DataSpec(**{**base.__dict__, **vals})


def _model_args(p: argparse.ArgumentParser, single: bool = True) -> None:
    g = p.add_argument_group("model and training (default: the preset's value)")
    if single:
        g.add_argument("--model", choices=MODELS, default="gru", help="recurrent cell (gru)")
        g.add_argument("--preset", choices=list(PRESETS), default="default",
                       help="'seed' reproduces the assignment's notebook; 'default' is the "
                            "best recipe")
    g.add_argument("--epochs", type=int, help="maximum number of epochs")
    g.add_argument("--batch-size", type=int, help="documents per batch")
    g.add_argument("--lr", type=float, help="Adam learning rate")
    g.add_argument("--weight-decay", type=float, help="Adam weight decay")
    g.add_argument("--seed", type=int, help="seed of initialisation, shuffling and dropout (42)")
    g.add_argument("--maxlen", type=int, help="tokens kept per document")
    g.add_argument("--num-words", type=int, help="vocabulary size, Keras meaning (ids < N)")
    g.add_argument("--embedding-dim", type=int, help="embedding width")
    g.add_argument("--hidden-size", type=int, help="recurrent state width")
    g.add_argument("--num-layers", type=int, help="stacked recurrent layers")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                   help="read each document in both directions")
    g.add_argument("--dropout", type=float, help="dropout on embeddings, between layers, before the head")
    g.add_argument("--pooling", choices=POOLINGS, help="how outputs over time become one vector")
    g.add_argument("--patience", type=int, help="stop after N epochs without a better val score")
    g.add_argument("--select", choices=("loss", "acc"),
                   help="keep the epoch with the best val loss, or val accuracy (ties: loss)")
    g.add_argument("--average", type=int, metavar="N",
                   help="keep the mean weights of the N best epochs (1: the best epoch)")
    g.add_argument("--clip", type=float, help="max gradient norm")
    g.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing")
    g.add_argument("--word-dropout", type=float, help="training only: delete tokens with this probability")
    g.add_argument("--min-count", type=int, help="drop words seen fewer times in training")
    g.add_argument("--schedule", choices=("constant", "cosine"), help="learning-rate schedule")
    g.add_argument("--impl", choices=("reference", "loop", "fast"), help="recurrence implementation")
    g.add_argument("--pretrain", choices=("none", "word2vec"),
                   help="start the embedding from word2vec trained on the training texts (needs gensim)")


# the Config fields that _model_args exposes as options (seed apart: compare has --seeds)
_SETTINGS = ("epochs", "batch_size", "lr", "weight_decay", "maxlen", "num_words",
             "embedding_dim", "hidden_size", "num_layers", "bidirectional", "dropout",
             "pooling", "patience", "clip", "impl", "label_smoothing", "schedule",
             "word_dropout", "min_count", "pretrain", "select", "average")


def _config(args, model: str | None = None, preset_name: str | None = None):
    return preset(preset_name or args.preset, model or args.model, seed=args.seed,
                  **{k: getattr(args, k) for k in _SETTINGS})


def _run_args(p: argparse.ArgumentParser, out_help: str, out_default: str | None) -> None:
    """Options shared by the verbs that train: model, data, output folder, device."""
    _model_args(p, single=p.prog.endswith(" train"))
    _data_args(p)
    p.add_argument("--out", metavar="DIR", default=out_default, help=out_help)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


# -- verbs -------------------------------------------------------------------------
def cmd_train(args) -> None:
    from .api import resolve_device
    from .runs import results_table, train_run
    cfg = _config(args)
    out = args.out or f"runs/{cfg.model}-{cfg.preset}"
    m = train_run(cfg, _data_spec(args), out, resolve_device(args.device), not args.quiet, _log)
    print(results_table([m]))
    print(f"run directory: {out}")


def cmd_test(args) -> None:
    from .runs import stored_data_spec, test_run
    m = test_run(args.run_dir, _data_spec(args, stored_data_spec(args.run_dir)), args.split)
    if args.json:
        print(json.dumps(m, indent=2))
        return
    print(f"{args.split} split: {m['n']} documents, accuracy {100 * m['accuracy']:.2f}%, "
          f"macro-F1 {100 * m['macro_f1']:.2f}%")
    print(f"{'class':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name, c in m["per_class"].items():
        print(f"{name:<16}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}"
              f"{c['support']:>9}")


def cmd_predict(args) -> None:
    from .backends import load_classifier
    clf = load_classifier(args.run_dir, args.backend)
    if args.texts:
        texts = args.texts
    else:
        src = sys.stdin if args.file in (None, "-") else None
        if src is None:
            path = Path(args.file)
            if not path.is_file():
                raise TextrnnError(f"{path}: no such file")
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        else:
            lines = src.read().splitlines()
        texts = [t for t in lines if t.strip()]
    if not texts or not all(t.strip() for t in texts):
        raise TextrnnError("no text to classify (give texts as arguments, --file, or stdin)")
    k = max(1, min(args.k, len(clf.classes_)))
    proba = clf.predict_proba(texts)
    results = []
    for text, p in zip(texts, proba):
        top = p.argsort()[::-1][:k]
        results.append({"text": text, "labels": [
            {"label": clf.classes_[i], "probability": float(p[i])} for i in top]})
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for r in results:
            print("  ".join(f"{x['label']} {x['probability']:.4f}" for x in r["labels"]))


def cmd_serve(args) -> None:
    """The model behind an HTTP API with micro-batching and a page (textrnn.serve)."""
    from .serve import ServeSettings, serve
    settings = ServeSettings(args.max_batch_size, args.max_wait_ms, args.max_body_bytes,
                             args.max_texts, args.max_chars)
    serve(args.run_dir, args.backend, args.host, args.port, settings, args.threads,
          access_log=not args.quiet, ready=_log)


def cmd_export(args) -> None:
    from .export import export_onnx
    path = export_onnx(args.run_dir, args.out)
    print(f"wrote {path} (checked against PyTorch with onnxruntime)")


def cmd_compare(args) -> None:
    """Every --models x --presets pair (and the TF-IDF baseline) under each protocol."""
    from .api import resolve_device
    from .study.compare import run_compare, table
    overrides = {k: getattr(args, k) for k in _SETTINGS if getattr(args, k) is not None}
    seeds = args.seeds or [args.seed if args.seed is not None else 42]
    result = run_compare(args.models, args.presets, _data_spec(args), args.protocols, seeds,
                         args.baseline, args.out, resolve_device(args.device), not args.quiet,
                         _log, args.results, **overrides)
    print(table(result["summary"]))
    print(f"({result['seconds']:.0f} s; table in {Path(args.results) / 'compare.md'} and "
          f"compare.json)")


def cmd_bench(args) -> None:
    """Speed of the implementations side by side (see textrnn.study.bench)."""
    from .study import bench
    from .checkpoint import write_json
    shapes = bench.SHAPES[:1] if args.quick else bench.SHAPES
    rows = bench.run(shapes, args.cells, rounds=args.rounds, iters=args.iters,
                     log=lambda t: print(t + "\n", flush=True))
    result = {"rows": rows, "threads": __import__("torch").get_num_threads()}
    if args.full_run:
        for model in args.cells:
            seconds, m = bench.full_run_seconds(model)
            result[f"full_run_{model}"] = {"seconds": seconds, "epochs": len(m["history"]),
                                           "test_accuracy": m["test"]["accuracy"]}
            print(f"full default {model} training on BBC: {seconds:.1f} s wall "
                  f"({len(m['history'])} epochs, test accuracy {100 * m['test']['accuracy']:.2f}%)")
    if args.json:
        write_json(args.json, result)


def cmd_report(args) -> None:
    """The one-page CVPR-format report of some run directories (see textrnn.study.report)."""
    from .study.report import write_report
    r = write_report(args.run_dirs, args.out, style_dir=args.style_dir, title=args.title,
                     author=args.author)
    print(f"report: {r.pdf} ({r.pages} page; LaTeX source {r.tex}, figure {r.figure})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textrnn", description="Recurrent text classifiers (RNN, GRU) from their equations.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model and write a run directory",
                       description="Train on the train split, select on val, test once on test; "
                                   "write config, vocabulary, weights, metrics and plots to --out.")
    _run_args(p, "run directory (runs/MODEL-PRESET)", None)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("test", help="evaluate a run directory on a dataset split",
                       description="Evaluate a saved model; by default on the test split of the "
                                   "data it was trained on.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory written by 'textrnn train'")
    _data_args(p, defaults=False)
    p.add_argument("--split", choices=("train", "val", "test", "all"), default="test",
                   help="which part of the data to evaluate on (test)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("predict", help="classify texts with a run directory",
                       description="Classify texts given as arguments, one per line in --file, "
                                   "or one per line on stdin.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory written by 'textrnn train'")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--file", metavar="FILE", help="file with one text per line ('-' = stdin)")
    p.add_argument("-k", type=int, default=1, help="number of top labels to show (1)")
    p.add_argument("--json", action="store_true", help="print JSON with labels and probabilities")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="torch (default) or onnx: onnxruntime on the run's model.onnx "
                        "(from 'textrnn export'), without PyTorch")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("serve", help="serve a run directory over HTTP (API, metrics, a page)",
                       description="HTTP API with micro-batching: POST /predict, /explain, "
                                   "GET /health, /info, /metrics, a page at /, TorchServe's "
                                   "/ping and /predictions/NAME. Needs the serve extra. "
                                   "See docs/serving.md.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory written by 'textrnn train'")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="torch: the PyTorch fast path (default); onnx: onnxruntime on "
                        "model.onnx, without PyTorch")
    p.add_argument("--max-batch-size", type=int, default=32, metavar="N",
                   help="texts per model call; 1 turns batching off (32)")
    p.add_argument("--max-wait-ms", type=float, default=5.0, metavar="MS",
                   help="how long a batch waits to fill before it runs (5)")
    p.add_argument("--max-body-bytes", type=int, default=1_000_000, metavar="N",
                   help="largest request body (1000000)")
    p.add_argument("--max-texts", type=int, default=64, metavar="N",
                   help="texts per /predict request (64)")
    p.add_argument("--max-chars", type=int, default=50_000, metavar="N",
                   help="characters per text (50000)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="intra-op threads of the model (default: the library's)")
    p.add_argument("--quiet", action="store_true", help="no access log")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="export a run directory's model (ONNX)",
                       description="Write model.onnx (dynamic batch and length up to the "
                                   "run's maxlen), checked against PyTorch with onnxruntime. "
                                   "Needs the onnx extra.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory written by 'textrnn train'")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="onnx (the only one)")
    p.add_argument("--out", metavar="DIR",
                   help="folder to write model.onnx to, with config, vocabulary and metrics "
                        "copied beside it (default: RUN_DIR itself)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("compare", help="train several models and presets, print one table",
                       description="Train every --models x --presets pair on the same split.")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                   help="cells to train (rnn gru)")
    p.add_argument("--presets", nargs="+", choices=list(PRESETS), default=list(PRESETS),
                   help="presets to train (seed default)")
    p.add_argument("--protocols", nargs="+", choices=("split", "dedupe", "cv"), default=["split"],
                   help="split: the assignment's split; dedupe: the same without duplicate "
                        "texts; cv: 5-fold stratified cross-validation (split)")
    p.add_argument("--seeds", nargs="+", type=int,
                   help="training seeds, one run each (for split and dedupe; default: --seed)")
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the TF-IDF + linear SVM baseline on the same splits (on)")
    _run_args(p, "folder for the run directories (runs)", "runs")
    p.add_argument("--results", metavar="DIR", default="results",
                   help="folder for the table, compare.md and compare.json (results)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("bench", help="benchmark the RNN/GRU implementations side by side",
                       description="Training and inference tokens/s of the assignment's loop, "
                                   "textrnn reference/loop/fast and torch.nn, in one process, "
                                   "with ratios and the memory saved for backward.")
    p.add_argument("--cells", nargs="+", choices=MODELS, default=["gru", "rnn"],
                   help="cells to benchmark (gru rnn)")
    p.add_argument("--quick", action="store_true",
                   help="only the assignment's shape (batch 32, 100 steps, hidden 128)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (5)")
    p.add_argument("--iters", type=int, default=3, help="training steps per round (3)")
    p.add_argument("--full-run", action="store_true",
                   help="also time a full default-preset training on the BBC data")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=cmd_bench)

    from .study.report import DEFAULT_TITLE
    p = sub.add_parser("report", help="write a one-page CVPR-format PDF report of some runs",
                       description="Write a one-page report in the CVPR layout (two columns, "
                                   "10-point Times, US letter) from run directories: method, "
                                   "setup, a results table, a figure and a discussion whose "
                                   "numbers all come from the runs' metrics.json and "
                                   "config.json. The .tex and the figure are written beside "
                                   "the PDF. Needs pdflatex (bash scripts/install-latex.sh).")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories written by 'textrnn train' or 'compare' (any with a "
                        "metrics.json; a model other than rnn/gru, e.g. tfidf-svm, is shown "
                        "as a baseline)")
    p.add_argument("-o", "--out", metavar="PDF", default="report.pdf",
                   help="the PDF to write (report.pdf); NAME.tex and NAME-figure.pdf go "
                        "beside it")
    p.add_argument("--style-dir", metavar="DIR",
                   help="folder of the official CVPR author kit (with cvpr.sty): use its "
                        "style instead of the built-in CVPR layout")
    p.add_argument("--title", default=DEFAULT_TITLE,
                   help=f"title of the report ({DEFAULT_TITLE!r})")
    p.add_argument("--author", metavar="TEXT",
                   help="author line (default: 'Generated by textrnn from N runs')")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = lambda msg, *a, **k: f"textrnn: warning: {msg}\n"
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "predict" and not any(
            a.startswith("-") and " " not in a for a in extra):
        args.texts += extra  # argparse leaves texts after an option: predict RUN -k 3 "text"
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        args.func(args)
    except TextrnnError as e:
        print(f"textrnn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("textrnn: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
