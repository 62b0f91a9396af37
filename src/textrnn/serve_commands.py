"""``textrnn serve`` and ``textrnn export``: their options, and the calls into
:mod:`textrnn.serve` and :mod:`textrnn.export` (imported only when the verb runs, so
building the parser needs neither FastAPI nor torch)."""

from __future__ import annotations

from .serve import ServeSettings

_DEFAULTS = ServeSettings()


def add_serve(sub) -> None:
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
    d = _DEFAULTS
    p.add_argument("--max-batch-size", type=int, default=d.max_batch_size, metavar="N",
                   help=f"texts per model call; 1 turns batching off ({d.max_batch_size})")
    p.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms, metavar="MS",
                   help=f"how long a batch waits to fill before it runs ({d.max_wait_ms:g})")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, metavar="N",
                   help=f"largest request body ({d.max_body_bytes})")
    p.add_argument("--max-texts", type=int, default=d.max_texts, metavar="N",
                   help=f"texts per /predict request ({d.max_texts})")
    p.add_argument("--max-chars", type=int, default=d.max_chars, metavar="N",
                   help=f"characters per text ({d.max_chars})")
    p.add_argument("--threads", type=int, metavar="N",
                   help="intra-op threads of the model (default: the library's)")
    p.add_argument("--quiet", action="store_true", help="no access log")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> None:
    """The model behind an HTTP API with micro-batching and a page (textrnn.serve)."""
    from .cli import _log
    from .serve import serve
    settings = ServeSettings(args.max_batch_size, args.max_wait_ms, args.max_body_bytes,
                             args.max_texts, args.max_chars)
    serve(args.run_dir, args.backend, args.host, args.port, settings, args.threads,
          access_log=not args.quiet, ready=_log)


def add_export(sub) -> None:
    p = sub.add_parser("export", help="export a run directory's model (ONNX)",
                       description="Write model.onnx (dynamic batch and length up to the "
                                   "run's maxlen), checked against PyTorch with onnxruntime. "
                                   "Needs the onnx extra. See docs/serving.md.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory written by 'textrnn train'")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="onnx (the only one)")
    p.add_argument("--out", metavar="DIR",
                   help="directory to write model.onnx to, with config, vocabulary and "
                        "metrics copied beside it (default: RUN_DIR itself)")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> None:
    from .export import export_onnx
    path = export_onnx(args.run_dir, args.out)
    print(f"wrote {path} (checked against PyTorch with onnxruntime)")
