"""``textrnn serve RUN_DIR``: the model behind an HTTP API, with micro-batching, Prometheus
metrics and a page to try it (FastAPI on uvicorn).

Routes (JSON unless said; errors are ``{"code", "type", "message"}`` as in TorchServe):

  ``POST /predict``      ``{"texts": [...], "k": 3}`` -> ``{"predictions": [{"labels":
                         [{"label", "probability"}, ...]}, ...]}``, top-k per text, the
                         numbers of ``textrnn predict``
  ``POST /explain``      ``{"text": "..."}`` -> every class's probability and each word's
                         occlusion score (the page's shading)
  ``GET  /health``       ``{"status": "ok"}`` (503 while shutting down)
  ``GET  /info``         cell, classes, settings, the run's test metrics, serving limits
  ``GET  /metrics``      Prometheus text format
  ``GET  /``             the page; ``/static/*`` its script and style
  TorchServe aliases: ``GET /ping``, ``POST /predictions/{model}`` (the body is one text).

Micro-batching follows TorchServe's ``batchSize`` / ``maxBatchDelay``: the first
waiting request opens a batch, which is run as soon as it holds ``max_batch_size``
texts or ``max_wait_ms`` have passed since it opened, whichever comes first. A request
is never split (one larger than the batch runs alone); the model runs on one worker
thread, so while it computes, the next batch fills. ``max_batch_size=1`` turns
batching off (each request runs alone). The response header ``X-Textrnn-Batch`` names
the batch that answered a request, and ``/metrics`` counts batches and their sizes.

Shutdown (SIGTERM or Ctrl-C): uvicorn stops accepting connections and waits for the
requests in flight; then the batcher runs whatever is still queued and stops.
"""
# No ``from __future__ import annotations`` here: FastAPI reads the annotations of the
# route functions, and the request models are local to create_app.


import asyncio
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import TextrnnError

STATIC = Path(__file__).with_name("static")


@dataclass(frozen=True)
class ServeSettings:
    """Batching and the limits on what one request may ask for."""
    max_batch_size: int = 32          # texts per model call (TorchServe's batchSize)
    max_wait_ms: float = 5.0          # how long a batch waits to fill (maxBatchDelay)
    max_body_bytes: int = 1_000_000   # request body
    max_texts: int = 64               # texts per /predict request
    max_chars: int = 50_000           # characters per text (BBC articles: 502 to 25,484)

    def validate(self) -> "ServeSettings":
        if self.max_batch_size < 1:
            raise TextrnnError("--max-batch-size must be >= 1")
        if self.max_wait_ms < 0:
            raise TextrnnError("--max-wait-ms must be >= 0")
        if min(self.max_body_bytes, self.max_texts, self.max_chars) < 1:
            raise TextrnnError("--max-body-bytes, --max-texts and --max-chars must be >= 1")
        return self


# -- metrics -----------------------------------------------------------------------
class Metrics:
    """Prometheus collectors in a registry of their own (one per app, so tests and
    several apps in one process do not collide)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        r = self.registry = CollectorRegistry()
        self.requests = Counter("textrnn_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=r)
        self.errors = Counter("textrnn_request_errors", "HTTP requests answered with 4xx/5xx",
                              ["route", "status"], registry=r)
        self.latency = Histogram("textrnn_request_latency_seconds",
                                 "time from request to response", ["route"], registry=r,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                          2.5, 5, 10))
        self.batches = Counter("textrnn_batches", "model calls made by the batcher",
                               registry=r)
        sizes = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
        self.batch_texts = Histogram("textrnn_batch_size_texts", "texts per model call",
                                     registry=r, buckets=sizes)
        self.batch_requests = Histogram("textrnn_batch_size_requests",
                                        "requests answered by one model call", registry=r,
                                        buckets=sizes)
        self.model_seconds = Histogram("textrnn_model_seconds", "time of one model call",
                                       ["kind"], registry=r,
                                       buckets=(.001, .0025, .005, .01, .025, .05, .1, .25,
                                                .5, 1, 2.5, 5))
        self.texts = Counter("textrnn_texts", "texts classified by /predict", registry=r)
        self.queue = Gauge("textrnn_queue_requests", "requests waiting for a batch",
                           registry=r)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# -- micro-batching ------------------------------------------------------------------
@dataclass
class _Job:
    ids: np.ndarray
    future: asyncio.Future


class Batcher:
    """Collects ``(B_i, T)`` id arrays from concurrent requests into model calls of at
    most ``max_batch_size`` rows (TorchServe semantics, see the module docstring).

    Args:
        predict: ``(B, T) ids -> (B, C) probabilities``, run on one worker thread.
        max_batch_size: rows per model call (a request larger than this runs alone).
        max_wait_ms: how long the first request of a batch waits for more.
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], max_batch_size: int,
                 max_wait_ms: float, metrics: Metrics) -> None:
        self.predict, self.max_batch_size = predict, max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.metrics = metrics
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textrnn-model")
        self.queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.batch_id = 0
        self._carry: _Job | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Run every job already queued, then stop (the sentinel queues behind them)."""
        if self._task is not None:
            await self.queue.put(None)
            await self._task
        self.executor.shutdown(wait=True)

    async def submit(self, ids: np.ndarray) -> tuple[np.ndarray, int]:
        """Queue ``ids``; returns their probabilities and the id of the batch that ran them."""
        job = _Job(ids, asyncio.get_running_loop().create_future())
        self.metrics.queue.inc()
        await self.queue.put(job)
        return await job.future

    async def run_alone(self, ids: np.ndarray, kind: str = "explain") -> np.ndarray:
        """A model call of its own (the page's occlusion rows are one batch already),
        on the same worker thread, so it never runs beside a batch."""
        t0 = time.perf_counter()
        out = await asyncio.get_running_loop().run_in_executor(self.executor, self.predict, ids)
        self.metrics.model_seconds.labels(kind).observe(time.perf_counter() - t0)
        return out

    async def _next(self, timeout: float | None) -> _Job | None | bool:
        """The next job; False when none came within ``timeout`` (None: wait for one)."""
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        if timeout is None:
            return await self.queue.get()
        if timeout <= 0:
            try:
                return self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return False
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return False

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._next(None)
            if first is None:
                break
            jobs, rows = [first], len(first.ids)
            deadline = loop.time() + self.max_wait
            while rows < self.max_batch_size:
                job = await self._next(deadline - loop.time())
                if job is False:
                    break
                if job is None:            # stop after this batch
                    stopping = True
                    break
                if rows + len(job.ids) > self.max_batch_size:
                    self._carry = job      # opens the next batch
                    break
                jobs.append(job)
                rows += len(job.ids)
            await self._run(jobs, rows)
            if self._carry is not None and stopping:   # the carried job still runs
                stopping = False
                await self.queue.put(None)

    async def _run(self, jobs: list[_Job], rows: int) -> None:
        self.batch_id += 1
        batch = self.batch_id
        self.metrics.queue.dec(len(jobs))
        self.metrics.batches.inc()
        self.metrics.batch_texts.observe(rows)
        self.metrics.batch_requests.observe(len(jobs))
        t0 = time.perf_counter()
        try:
            ids = np.concatenate([j.ids for j in jobs]) if len(jobs) > 1 else jobs[0].ids
            proba = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.predict, ids)
        except Exception as e:  # answered as 500 by each waiting request; we keep serving
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(e)
            return
        self.metrics.model_seconds.labels("batch").observe(time.perf_counter() - t0)
        start = 0
        for j in jobs:
            if not j.future.done():   # a client that went away leaves a cancelled future
                j.future.set_result((proba[start:start + len(j.ids)], batch))
            start += len(j.ids)


# -- occlusion -----------------------------------------------------------------------
def word_spans(tokenizer, text: str) -> list[tuple[int, int]] | None:
    """Character spans of the words ``tokenizer.split(text)`` yields (None if the two
    ever disagree), so the page can shade the text as typed, punctuation and case kept."""
    pattern = re.compile("[^\\s" + re.escape(tokenizer.filters) + "]+")
    spans = [m.span() for m in pattern.finditer(text)]
    words = [text[a:b].lower() if tokenizer.lower else text[a:b] for a, b in spans]
    return spans if words == tokenizer.split(text) else None


def occlusion_rows(clf, text: str) -> tuple[list[str], list[int | None], np.ndarray]:
    """The text's words, each word's position among the token ids (None: not in the
    vocabulary, so the model never sees it) and the id rows to run: row 0 the whole
    text, row ``1 + j`` the text without its ``j``-th token. Only tokens within the
    ``maxlen`` the model reads get a row; the others cannot move the prediction."""
    tok, cfg = clf.tokenizer_, clf.config
    words = tok.split(text)
    ids: list[int] = []
    where: list[int | None] = []
    for w in words:
        got = tok.encode(w)    # the tokenizer's own rule (vocabulary limit, OOV id)
        where.append(len(ids) if got else None)
        ids += got
    kept = range(len(ids))[:cfg.maxlen] if cfg.truncating == "post" else \
        range(len(ids))[-cfg.maxlen:]
    seqs = [ids] + [ids[:j] + ids[j + 1:] for j in kept]
    from .tokenizer import pad_sequences
    rows = pad_sequences(seqs, cfg.maxlen, cfg.padding, cfg.truncating)
    first = kept.start if len(kept) else 0
    where = [p if p is not None and p in kept else None for p in where]
    return words, [None if p is None else 1 + p - first for p in where], rows


# -- the app -----------------------------------------------------------------------------
def create_app(clf, settings: ServeSettings = ServeSettings(), *, name: str = "model",
               metrics: dict | None = None):
    """The FastAPI app serving ``clf`` (from :func:`textrnn.backends.load_classifier`).

    Args:
        clf: the classifier (``classes_``, ``config``, ``tokenizer_``, ``encode``,
            ``predict_proba_ids``).
        settings: batching and limits.
        name: the model's name (TorchServe's ``/predictions/{name}``; the run folder's).
        metrics: the run's ``metrics.json``, for ``/info``.
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, Field, ValidationError
    from starlette.exceptions import HTTPException

    settings = settings.validate()
    prom = Metrics()
    classes = [str(c) for c in clf.classes_]
    state = {"draining": False}

    @asynccontextmanager
    async def lifespan(app):
        batcher = Batcher(clf.predict_proba_ids, settings.max_batch_size,
                          settings.max_wait_ms, prom)
        batcher.start()
        app.state.batcher = batcher
        try:
            yield
        finally:
            state["draining"] = True
            await batcher.stop()

    app = FastAPI(title="textrnn", summary=f"{clf.config.model.upper()} text classifier",
                  docs_url=None, redoc_url=None, lifespan=lifespan)

    def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        kind = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed",
                413: "PayloadTooLarge", 422: "InvalidRequest",
                503: "ServiceUnavailable"}.get(status, "InternalServerError")
        return JSONResponse({"code": status, "type": kind, "message": message},
                            status_code=status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        message = {404: f"no route {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(
            exc.status_code, str(exc.detail)) if exc.status_code != 400 else str(exc.detail)
        return error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            return error(400, "malformed JSON body")
        parts = []
        for e in errs[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
            parts.append(f"{loc}: {e.get('msg', 'invalid')}")
        return error(422, "; ".join(parts))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):
        return error(500, f"internal error ({type(exc).__name__})")

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        texts: list[str] = Field(min_length=1, description="texts to classify")
        k: int = Field(1, ge=1, description="top labels per text (clipped to the classes)")

    class ExplainRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        text: str = Field(description="one text")

    async def parse(request: Request, model: type[BaseModel]) -> BaseModel:
        """The body as JSON, whatever the Content-Type says (curl's -d sends a form
        type), validated against ``model``: 400 when it is not JSON, 422 when it does
        not fit."""
        raw = await request.body()
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, "malformed JSON body") from None
        except RecursionError:   # '[[[[...' a hundred thousand deep
            raise HTTPException(400, "malformed JSON body (nested too deeply)") from None
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise RequestValidationError(e.errors()) from None

    def check_texts(texts: list[str], field: str = "texts") -> JSONResponse | None:
        if len(texts) > settings.max_texts:
            return error(413, f"{len(texts)} texts in one request (at most {settings.max_texts})")
        for i, t in enumerate(texts):
            where = f"{field}[{i}]" if field == "texts" else field
            if len(t) > settings.max_chars:
                return error(413, f"{where} has {len(t)} characters "
                                  f"(at most {settings.max_chars})")
            if not t.strip():
                return error(422, f"{where} is empty")
        return None

    def top(p: np.ndarray, k: int) -> list[dict]:
        k = max(1, min(k, len(classes)))
        order = np.argsort(-p, kind="stable")[:k]
        return [{"label": classes[i], "probability": float(p[i])} for i in order]

    async def classify(request: Request, texts: list[str]) -> tuple[np.ndarray, int]:
        if state["draining"]:
            raise _Draining()
        return await request.app.state.batcher.submit(clf.encode(texts))

    class _Draining(Exception):
        pass

    @app.exception_handler(_Draining)
    async def draining(request: Request, exc: _Draining):
        return error(503, "shutting down")

    @app.post("/predict", openapi_extra=_body_schema(PredictRequest))
    async def predict(request: Request):
        body = await parse(request, PredictRequest)
        bad = check_texts(body.texts)
        if bad is not None:
            return bad
        prom.texts.inc(len(body.texts))
        proba, batch = await classify(request, body.texts)
        return JSONResponse({"predictions": [{"labels": top(p, body.k)} for p in proba]},
                            headers={"X-Textrnn-Batch": str(batch)})

    @app.post("/explain", openapi_extra=_body_schema(ExplainRequest))
    async def explain(request: Request):
        body = await parse(request, ExplainRequest)
        bad = check_texts([body.text], "text")
        if bad is not None:
            return bad
        words, rows_of, rows = occlusion_rows(clf, body.text)
        proba = await request.app.state.batcher.run_alone(rows)
        full = proba[0]
        target = int(full.argmax())
        spans = word_spans(clf.tokenizer_, body.text)
        out = []
        for i, (w, r) in enumerate(zip(words, rows_of)):
            item = {"word": w, "weight": 0.0 if r is None else float(full[target] - proba[r, target]),
                    "read": r is not None}
            if spans is not None:
                item["start"], item["end"] = spans[i]
            out.append(item)
        return {"labels": top(full, len(classes)), "target": classes[target],
                "method": "occlusion", "rows": int(len(rows)), "words": out}

    @app.get("/health")
    async def health():
        if state["draining"]:
            return error(503, "shutting down")
        return {"status": "ok"}

    @app.get("/ping")
    async def ping():   # TorchServe's health check
        if state["draining"]:
            return error(503, "shutting down")
        return {"status": "Healthy"}

    @app.get("/info")
    async def info():
        m = metrics or {}
        test = m.get("test") or {}
        return {"model": name, "cell": clf.config.model, "backend": clf.backend,
                "classes": classes, "config": asdict(clf.config),
                "members": clf.members_,  # trained: config's members, or more (fill_budget)
                "vocab_size": clf.tokenizer_.vocab_size,
                "test": {k: test[k] for k in ("accuracy", "macro_f1", "per_class") if k in test}
                or None,
                "val": {k: (m.get("val") or {})[k] for k in ("accuracy", "macro_f1")
                        if k in (m.get("val") or {})} or None,
                "data": m.get("data"), "serving": asdict(settings),
                "attribution": "occlusion"}

    @app.get("/metrics")
    async def metrics_route():
        body, ctype = prom.render()
        return Response(body, media_type=ctype)

    @app.post("/predictions/{model_name}")
    async def predictions(model_name: str, request: Request, k: int | None = None):
        """TorchServe's inference API: the body is one text; the answer maps labels to
        probabilities, best first."""
        if model_name != name:
            return error(404, f"model {model_name!r} not found (this server has {name!r})")
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return error(400, "the body is not UTF-8 text")
        bad = check_texts([text], "body")
        if bad is not None:
            return bad
        prom.texts.inc()
        proba, batch = await classify(request, [text])
        best = top(proba[0], k or len(classes))
        return JSONResponse({x["label"]: x["probability"] for x in best},
                            headers={"X-Textrnn-Batch": str(batch)})

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return Guard(app, prom, settings.max_body_bytes, error)


def _body_schema(model) -> dict:
    """The request body's schema for /openapi.json (the routes parse bodies themselves)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


class Guard:
    """ASGI middleware around the app: refuses bodies over the size limit before the
    app reads them (413), and counts every request, error and latency by route (the
    route's template, so unknown paths cannot blow up the label set)."""

    def __init__(self, app, metrics: Metrics, max_body: int, error) -> None:
        self.app, self.metrics, self.max_body, self.error = app, metrics, max_body, error

    def __getattr__(self, name):   # app.state, app.routes, ... for tests and tools
        if name == "app":          # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def send_counted(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                return await self._refuse(scope, receive, send_counted)
            chunks, total, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                total += len(chunk)
                if total > self.max_body:
                    return await self._refuse(scope, receive, send_counted)
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_counted)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(path, scope.get("method", ""), str(status[0])).inc()
            if status[0] >= 400:
                self.metrics.errors.labels(path, str(status[0])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - t0)

    async def _refuse(self, scope, receive, send):
        response = self.error(413, f"request body over {self.max_body} bytes")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def check_port(host: str, port: int) -> None:
    """One clear error when ``host:port`` cannot be listened on (taken, not an address
    of this machine, out of range), instead of uvicorn's log line."""
    import socket
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn does
            s.bind((host, port))
    except (OSError, OverflowError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise TextrnnError(f"cannot listen on {host}:{port} ({reason})") from None


def serve(run_dir: str | Path, backend: str = "torch", host: str = "127.0.0.1",
          port: int = 8000, settings: ServeSettings = ServeSettings(),
          threads: int | None = None, log_level: str = "info", access_log: bool = True,
          ready: Callable[[str], None] | None = None) -> None:
    """Load ``run_dir`` and serve it until SIGTERM / Ctrl-C (see the module docstring)."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise TextrnnError(f"textrnn serve needs the serve extra (pip install "
                           f"'textrnn[serve]'): {e}") from None
    from .backends import load_classifier
    from .checkpoint import METRICS
    settings = settings.validate()
    check_port(host, port)   # before the model loads: a taken port fails in a second
    clf = load_classifier(run_dir, backend, threads)
    metrics_path = Path(run_dir) / METRICS
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8")) \
            if metrics_path.is_file() else None
    except (OSError, ValueError):
        metrics = None
    app = create_app(clf, settings, name=Path(run_dir).resolve().name, metrics=metrics)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            access_log=access_log, timeout_graceful_shutdown=30,
                            lifespan="on")
    server = uvicorn.Server(config)
    if ready is not None:
        ready(f"serving {Path(run_dir)} ({clf.config.model}, {backend} backend) on "
              f"http://{host}:{port}/")
    server.run()
