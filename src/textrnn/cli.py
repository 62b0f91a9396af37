"""Command line: ``textrnn train | test | predict | serve | export`` (fastText-style
verbs; serve and export are defined in textrnn.serve_commands), plus the verbs other
packages register (``compare``, ``bench``, ``report`` from textrnn.study).

Problems with the user's input end as one ``textrnn: error: ...`` line and exit
status 1; argparse's own usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
import warnings
from dataclasses import fields
from importlib.metadata import entry_points
from pathlib import Path

from .config import CELL_DEFAULTS, SETTINGS, Config, _base_type, preset
from .errors import TextrnnError


def _data_args(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    d = (lambda v: v) if defaults else (lambda v: None)
    g = p.add_argument_group("data and split")
    g.add_argument("--data", metavar="PATH", default=None,
                   help="CSV, TSV, JSON Lines or fastText file, folder per class, or any of "
                        "these in a .zip / .tar / .tar.gz / .gz; its own train/val/test split "
                        "is used when it has one (see docs/corpora.md); default: the BBC "
                        "dataset from $TEXTRNN_DATA (else the user cache dir), downloaded if "
                        "absent" + ("" if defaults else "; default: the data the run was "
                                                        "trained on"))
    for part in ("train", "val", "test"):
        g.add_argument(f"--{part}", metavar="PATH", default=None,
                       help=f"the {part} part, in any format --data reads (instead of --data)")
    g.add_argument("--text-column", default=d("Text"),
                   help="column or JSON field holding the text (Text; any case)")
    g.add_argument("--label-column", default=d("Label"),
                   help="column or JSON field holding the label, an int id or a name (Label)")
    g.add_argument("--split-column", default=None,
                   help="column or JSON field naming each row's split: train, val / dev / "
                        "validation, or test")
    g.add_argument("--split-seed", type=int, default=d(42),
                   help="random_state of the 70/15/15 split (42, the assignment's)")
    g.add_argument("--stratify", action=argparse.BooleanOptionalAction, default=d(False),
                   help="stratify the split by label (off, as in the assignment)")
    g.add_argument("--dedupe", action=argparse.BooleanOptionalAction, default=d(False),
                   help="drop exact duplicate texts before splitting (BBC has 98)")


def _data_spec(args, base=None):
    from .runs import DataSpec
    base = base or DataSpec()
    keys = ("text_column", "label_column", "split_seed", "stratify", "dedupe", "split_column")
    vals = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    paths = {k: getattr(args, k) for k in ("data", "train", "val", "test")}
    if any(v is not None for v in paths.values()):  # new data replaces the stored data
        vals.update({("path" if k == "data" else k): None if v is None else
                     str(Path(v).resolve())  # so `test` works from anywhere
                     for k, v in paths.items()})
        vals["split_column"] = args.split_column  # the stored one was the old data's
    if getattr(args, "val_fraction", None) is not None:  # train / compare: carve val likewise
        vals["val_size"] = args.val_fraction
    return DataSpec(**{**base.__dict__, **vals})


def add_settings(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per Config field (help text from the field). Each
    defaults to None, i.e. "the preset's value", so only what is given overrides it."""
    g = p.add_argument_group("settings (default: the preset's value; see textrnn.Config)")
    hints = typing.get_type_hints(Config)
    for f in fields(Config):
        if f.name in skip:
            continue
        flag, kind = "--" + f.name.replace("_", "-"), _base_type(hints[f.name])
        default = getattr(Config(), f.name)
        help = f.metadata["help"] + ("" if f.name in CELL_DEFAULTS["gru"]  # says it already
                                     else f" (default preset: {default})")
        if kind is bool:
            g.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help)
        else:
            g.add_argument(flag, type=kind, choices=f.metadata["choices"], default=None,
                           help=help, metavar=None if f.metadata["choices"] else kind.__name__.upper())


def _settings(args, skip: tuple[str, ...] = ()) -> dict:
    """The settings given on the command line (None: not given)."""
    return {k: getattr(args, k) for k in SETTINGS if k not in skip}


def add_run_options(p: argparse.ArgumentParser, out_help: str, out_default: str | None) -> None:
    """Options shared by the verbs that train: data, output directory, device."""
    _data_args(p)
    p.add_argument("--out", metavar="DIR", default=out_default, help=out_help)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


# -- verbs -------------------------------------------------------------------------
def cmd_train(args) -> int:
    from .api import resolve_device
    from .resume import TrainingInterrupted
    from .runs import results_table, train_run
    if args.resume:
        out = args.resume
        cfg, data = _resumed_settings(args)
    else:
        cfg = preset(args.preset or "default", args.model or "gru",
                     **_settings(args, skip=("model", "preset")))
        data, out = _data_spec(args), args.out or f"runs/{cfg.model}-{cfg.preset}"
    from . import distributed
    # under torchrun: join the process group; rank 0 alone logs and writes, and a
    # restart after a failed rank goes on from the last checkpoint
    with distributed.session(resolve_device(args.device)) as device:
        rank0 = distributed.is_main()
        try:
            m = train_run(cfg, data, out, device, not args.quiet and rank0,
                          _log if rank0 else (lambda msg: None), save_every=args.save_every,
                          resume=bool(args.resume) or distributed.restarted())
        except TrainingInterrupted as e:
            _log(f"textrnn: {e.args[0]}; resume with: textrnn train --resume {out}")
            return 128 + e.signum
    if not rank0:
        return 0
    print(results_table([m]))
    print(f"run directory: {out}")
    return 0


def _resumed_settings(args):
    """The settings ``--resume RUN_DIR`` continues with: the run's own; an option given
    with another value is an error naming it."""
    from .config import Config
    from .resume import CHECKPOINTS, RUN, read_run_settings
    from .runs import DataSpec
    stored, where = read_run_settings(args.resume), Path(args.resume) / CHECKPOINTS / RUN
    if not isinstance(stored.get("config"), dict):
        raise TextrnnError(f"{where}: corrupt (no 'config' object)")
    try:
        cfg = Config.from_dict(stored["config"])
    except TextrnnError as e:
        raise TextrnnError(f"{where}: corrupt ({e})") from None
    data = DataSpec.from_dict(stored.get("data"), where)
    p = args._parser
    keep = {"resume", "device", "quiet", "save_every", "func", "_parser"}
    for action in p._actions:  # re-parse with no defaults: what is left was given
        if action.dest not in keep:
            action.default = argparse.SUPPRESS
    argv = args._argv[args._argv.index("train") + 1:]
    given = vars(p.parse_known_args(argv)[0])
    ours = {**cfg.to_dict(), **{k: v for k, v in data.__dict__.items() if k != "path"},
            "data": data.path}
    for k, v in given.items():
        if k in keep:
            continue
        theirs = ours.get(k, args.resume if k == "out" else None)
        if k in ("data", "train", "val", "test"):
            v = str(Path(v).resolve())
        if v != theirs:
            raise TextrnnError(f"--{k.replace('_', '-')} {v} conflicts with the run being "
                               f"resumed ({theirs}): a resumed run keeps the settings it "
                               f"started with")
    return cfg, data


def cmd_test(args) -> None:
    from .runs import stored_data_spec, test_run
    m = test_run(args.run_dir, _data_spec(args, stored_data_spec(args.run_dir)), args.split)
    if args.json:
        print(json.dumps(m, indent=2))
        return
    print(f"{args.split} split: {m['n']} documents, accuracy {100 * m['accuracy']:.2f}%, "
          f"macro-F1 {100 * m['macro_f1']:.2f}%")
    w = max([len("class"), *map(len, m["per_class"])]) + 2  # 20NG names run to 24 characters
    print(f"{'class':<{w}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name, c in m["per_class"].items():
        print(f"{name:<{w}}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}"
              f"{c['support']:>9}")


def cmd_predict(args) -> None:
    from .backends import load_classifier
    clf = load_classifier(args.run_dir, args.backend)   # onnx: without torch
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
    if args.k < 1:
        raise TextrnnError(f"-k must be >= 1 (the number of top labels to show), got {args.k}")
    k = min(args.k, len(clf.classes_))
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textrnn", description="Recurrent text classifiers (RNN, GRU) from their equations.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model and write a run directory",
                       description="Train on the train split, select on val, test once on test; "
                                   "write config, vocabulary, weights, metrics and plots to --out.")
    add_settings(p)
    add_run_options(p, "run directory to write (runs/MODEL-PRESET)", None)
    p.add_argument("--save-every", type=int, default=0, metavar="N",
                   help="also save a checkpoint every N batches (0: at the end of each epoch "
                        "only); checkpoints live in RUN_DIR/checkpoints until the run ends")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its last checkpoint, with the "
                        "settings it started with")
    p.set_defaults(func=cmd_train, _parser=p)

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
    p.add_argument("-k", type=int, default=1,
                   help="number of top labels to show (1; more than there are classes "
                        "shows them all)")
    p.add_argument("--json", action="store_true", help="print JSON with labels and probabilities")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="torch (default) or onnx: onnxruntime on the run's model.onnx "
                        "(from 'textrnn export'), without PyTorch")
    p.set_defaults(func=cmd_predict)

    from .serve_commands import add_export, add_serve
    add_serve(sub)
    add_export(sub)

    # verbs of other packages (textrnn.study's compare, bench, report): entry points
    # in the group "textrnn.commands", each a function that adds its subparser, so
    # the core never imports them.
    for ep in sorted(entry_points(group="textrnn.commands"), key=lambda e: e.name):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = lambda msg, *a, **k: f"textrnn: warning: {msg}\n"
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    if argv[:1] == ["predict"]:  # texts may follow options: predict RUN -k 3 "text"
        args = verbs["predict"].parse_intermixed_args(argv[1:])
    else:
        args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args._argv = argv
    try:
        code = args.func(args)
    except TextrnnError as e:
        print(f"textrnn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("textrnn: interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
