"""``textrnn serve`` end to end: a real server process on a free loopback port, real
HTTP, real SIGTERM. The API answers with the numbers of ``textrnn predict``, refuses
every bad request with a 4xx JSON error and stays up, batches concurrent requests."""

from __future__ import annotations

import json
import re
import signal
import threading
import time

import httpx
import pytest

from servers import Server

TEXTS = ["Chelsea beat Arsenal 2-0 to go top of the Premier League table.",
         "Shares in the bank fell sharply after its quarterly profits missed forecasts."]


def metric(url: str, name: str) -> float:
    """One sample of /metrics (0 if absent)."""
    text = httpx.get(url + "/metrics").text
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_predict_gives_the_numbers_of_textrnn_predict(server, tiny_run, capsys):
    from textrnn.cli import main
    assert main(["predict", str(tiny_run), "--json", "-k", "3", *TEXTS]) == 0
    want = json.loads(capsys.readouterr().out)
    r = httpx.post(server.url + "/predict", json={"texts": TEXTS, "k": 3})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        assert [x["label"] for x in g["labels"]] == [x["label"] for x in w["labels"]]
        for a, b in zip(g["labels"], w["labels"]):
            # the same code path; only BLAS blocking may differ in the last float bits
            assert a["probability"] == pytest.approx(b["probability"], abs=1e-6)
    assert int(r.headers["x-textrnn-batch"]) >= 1


def test_health_info_metrics_and_torchserve_aliases(server, tiny_run):
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    assert httpx.get(server.url + "/ping").json() == {"status": "Healthy"}
    info = httpx.get(server.url + "/info").json()
    stored = json.loads((tiny_run / "metrics.json").read_text())
    assert info["cell"] == "gru" and info["backend"] == "torch"
    assert info["classes"] == json.loads((tiny_run / "config.json").read_text())["classes"]
    assert info["config"]["maxlen"] == 64
    assert info["members"] == json.loads((tiny_run / "config.json").read_text())["members_trained"]
    assert info["test"]["accuracy"] == stored["test"]["accuracy"]
    assert info["serving"]["max_texts"] == 4
    r = httpx.post(f"{server.url}/predictions/{tiny_run.name}", content=TEXTS[0].encode())
    assert r.status_code == 200
    probs = r.json()
    assert set(probs) == set(info["classes"])
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert list(probs.values()) == sorted(probs.values(), reverse=True)
    m = httpx.get(server.url + "/metrics")
    assert m.headers["content-type"].startswith("text/plain")
    for name in ("textrnn_requests_total", "textrnn_request_errors_total",
                 "textrnn_request_latency_seconds_bucket", "textrnn_batch_size_texts_bucket",
                 "textrnn_batch_size_requests_count"):
        assert name in m.text


def test_serve_errors_are_one_line(server, tiny_run, tmp_path_factory, capsys):
    from textrnn.cli import main
    assert main(["serve", str(tiny_run), "--port", str(server.port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot listen on 127.0.0.1:{server.port}" in err[0], err
    assert main(["serve", str(tiny_run), "--port", "70000"]) == 1
    assert "cannot listen" in capsys.readouterr().err
    assert main(["serve", str(tiny_run), "--port", "0", "--max-batch-size", "0"]) == 1
    assert "--max-batch-size must be >= 1" in capsys.readouterr().err
    assert main(["serve", str(tmp_path_factory.mktemp("x") / "none"), "--port", "0"]) == 1
    assert "no such run directory" in capsys.readouterr().err


def test_explain_scores_words_by_occlusion(server):
    text = "The Prime Minister, Tony Blair, told MPs in the Commons: zzqx the election is near."
    r = httpx.post(server.url + "/explain", json={"text": text})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "occlusion"
    assert body["target"] == body["labels"][0]["label"]
    words = body["words"]
    assert [text[w["start"]:w["end"]].lower() for w in words] == [w["word"] for w in words]
    assert not next(w for w in words if w["word"] == "zzqx")["read"]   # not in the vocabulary
    read = [w for w in words if w["read"]]
    assert body["rows"] == len(read) + 1
    assert any(abs(w["weight"]) > 0 for w in read)


BAD = [  # (method, path, body, status, words of the message)
    ("POST", "/predict", b'{"texts": ', 400, "malformed JSON"),
    ("POST", "/predict", b"\xff\xfe\x00", 400, "malformed JSON"),
    ("POST", "/predict", b"", 400, "malformed JSON"),
    ("POST", "/predict", b"[" * 100_000, 400, "nested too deeply"),
    ("POST", "/predict", b'["a text"]', 422, "body"),
    ("POST", "/predict", b'{"texts": []}', 422, "texts"),
    ("POST", "/predict", b'{"texts": "one string"}', 422, "texts"),
    ("POST", "/predict", b'{"texts": [1, 2]}', 422, "texts.0"),
    ("POST", "/predict", b'{"texts": [null]}', 422, "texts.0"),
    ("POST", "/predict", b'{"texts": ["a"], "k": 0}', 422, "k"),
    ("POST", "/predict", b'{"texts": ["a"], "k": "3"}', 422, "k"),
    ("POST", "/predict", b'{"texts": ["a"], "k": 2.5}', 422, "k"),
    ("POST", "/predict", b'{"text": ["a"]}', 422, "text"),
    ("POST", "/predict", b'{"texts": ["   "]}', 422, "texts[0] is empty"),
    ("POST", "/predict", json.dumps({"texts": ["a"] * 5}).encode(), 413, "5 texts"),
    ("POST", "/predict", json.dumps({"texts": ["a" * 30001]}).encode(), 413, "30001 characters"),
    ("POST", "/predict", b'{"texts": ["' + b"a " * 150000 + b'"]}', 413, "body over 200000"),
    ("POST", "/explain", b'{"text": 3}', 422, "text"),
    ("POST", "/explain", b'{"text": " "}', 422, "text is empty"),
    ("POST", "/explain", json.dumps({"text": "a" * 30001}).encode(), 413, "text has 30001"),
    ("POST", "/explain", b'{"texts": ["a"]}', 422, "text"),
    ("POST", "/predictions/no-such-model", b"a text", 404, "no-such-model"),
    ("GET", "/predict", None, 405, "GET"),
    ("DELETE", "/info", None, 405, "DELETE"),
    ("GET", "/no/such/route", None, 404, "/no/such/route"),
    ("POST", "/", b"{}", 405, "POST"),
]


@pytest.mark.parametrize("method,path,body,status,needle", BAD,
                         ids=[f"{m} {p} {s} {n}" for m, p, _, s, n in BAD])
def test_bad_requests_get_a_4xx_json_error(server, method, path, body, status, needle):
    r = httpx.request(method, server.url + path, content=body)
    assert r.status_code == status, r.text
    err = r.json()
    assert err["code"] == status and needle in err["message"], err
    assert set(err) == {"code", "type", "message"}


def test_chunked_body_over_the_limit_is_refused(server):
    def chunks():
        for _ in range(30):
            yield b"x" * 10_000
    r = httpx.post(server.url + "/predict", content=chunks())   # no Content-Length
    assert r.status_code == 413 and "body over" in r.json()["message"]


def test_no_input_takes_the_server_down(server):
    import random
    rng = random.Random(0)
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
               for _ in range(20)]
    samples += [json.dumps(v).encode() for v in (
        {"texts": [{"a": 1}]}, {"texts": [[]]}, {"texts": ["\x00\ud7ff" * 10]}, {"texts": None},
        {"texts": ["ok"], "k": 10 ** 30}, {"texts": ["ok"], "k": -1}, 1e308, "x", [],
        {"texts": ["é€😀 " * 100]})]
    with httpx.Client() as c:
        for body in samples:
            r = c.post(server.url + "/predict", content=body)
            assert r.status_code < 500 and isinstance(r.json(), dict), (body[:80], r.text)
            r = c.post(server.url + "/explain", content=body)
            assert r.status_code < 500, (body[:80], r.text)
        # k beyond the classes is clipped, as in `textrnn predict`
        r = c.post(server.url + "/predict", json={"texts": ["ok"], "k": 10 ** 6})
        assert r.status_code == 200 and len(r.json()["predictions"][0]["labels"]) == 5
    assert httpx.get(server.url + "/health").status_code == 200
    assert server.proc.poll() is None
    assert metric(server.url, 'textrnn_request_errors_total{route="/predict",status="422"}') > 0


@pytest.fixture(scope="module")
def slow_batch_server(tiny_run, tmp_path):
    """Batches of at most 2 texts that wait up to 3 s to fill: concurrency is visible."""
    s = Server(tiny_run, "--max-batch-size", "2", "--max-wait-ms", "3000",
               log=tmp_path / "slow.log")
    yield s.wait_ready()
    s.stop()


@pytest.fixture(scope="module")
def tmp_path(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-batch")


def _post_concurrently(url: str, payloads: list[dict]) -> list[httpx.Response]:
    out: list = [None] * len(payloads)
    barrier = threading.Barrier(len(payloads))

    def go(i):
        barrier.wait()
        out[i] = httpx.post(url + "/predict", json=payloads[i], timeout=30)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_concurrent_requests_are_answered_from_one_batch(slow_batch_server):
    url = slow_batch_server.url
    batches0 = metric(url, "textrnn_batches_total")
    reqs0 = metric(url, "textrnn_batch_size_requests_sum")
    t0 = time.monotonic()
    a, b = _post_concurrently(url, [{"texts": [TEXTS[0]]}, {"texts": [TEXTS[1]]}])
    elapsed = time.monotonic() - t0
    assert a.status_code == b.status_code == 200
    assert a.headers["x-textrnn-batch"] == b.headers["x-textrnn-batch"]
    assert metric(url, "textrnn_batches_total") == batches0 + 1
    assert metric(url, "textrnn_batch_size_requests_sum") == reqs0 + 2
    # the batch ran because it was full (2 texts), not because 3 s had passed
    assert elapsed < 2.5, elapsed
    # batched or alone, a text gets its own probabilities
    alone = httpx.post(url + "/predict", json={"texts": [TEXTS[0]], "k": 5}, timeout=30).json()
    top = a.json()["predictions"][0]["labels"][0]
    assert alone["predictions"][0]["labels"][0]["label"] == top["label"]
    assert alone["predictions"][0]["labels"][0]["probability"] == pytest.approx(
        top["probability"], abs=1e-6)


def test_sigterm_finishes_the_request_in_flight_then_exits(tiny_run, tmp_path):
    s = Server(tiny_run, "--max-batch-size", "8", "--max-wait-ms", "1500",
               log=tmp_path / "term.log").wait_ready()
    result = {}

    def go():   # waits ~1.5 s in the batcher for a batch that never fills
        result["r"] = httpx.post(s.url + "/predict", json={"texts": [TEXTS[0]]}, timeout=30)

    t = threading.Thread(target=go)
    t.start()
    time.sleep(0.5)
    rc = s.stop()   # SIGTERM, then wait
    t.join()
    assert result["r"].status_code == 200, result["r"].text
    assert result["r"].json()["predictions"][0]["labels"]
    # uvicorn re-raises the signal once it has shut down, so the exit is "killed by
    # SIGTERM" (what a supervisor expects), after the app's shutdown has run
    log = s.log_path.read_text()
    assert rc in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log and "Traceback" not in log, log
    with pytest.raises(httpx.ConnectError):
        httpx.get(s.url + "/health", timeout=2)


def test_batcher_packs_requests_whole_and_survives_a_failing_call():
    """TorchServe semantics in texts: requests are packed in arrival order up to the
    batch size, never split (one that would overflow opens the next batch, one larger
    than the batch runs alone); a model call that raises fails only its requests."""
    import asyncio

    import numpy as np

    from textrnn.serve import Batcher, Metrics
    calls = []

    def predict(ids):
        calls.append(len(ids))
        if (ids < 0).any():
            raise RuntimeError("boom")
        return np.repeat(ids[:, :1].astype(np.float32), 2, axis=1)

    sizes = [1, 2, 2, 3, 5]

    async def run():
        b = Batcher(predict, max_batch_size=4, max_wait_ms=200, metrics=Metrics())
        b.start()
        results = await asyncio.gather(*(b.submit(np.full((n, 3), i + 1))
                                         for i, n in enumerate(sizes)))
        failed = await asyncio.gather(b.submit(np.full((1, 3), -1)), return_exceptions=True)
        after = await b.submit(np.full((1, 3), 7))
        await b.stop()
        return results, failed, after

    results, failed, after = asyncio.run(run())
    assert calls == [3, 2, 3, 5, 1, 1]
    for i, ((p, _), n) in enumerate(zip(results, sizes)):
        assert p.shape == (n, 2) and (p == i + 1).all()   # each gets its own rows back
    assert [batch for _, batch in results] == [1, 1, 2, 3, 4]
    assert isinstance(failed[0], RuntimeError)
    assert (after[0] == 7).all() and after[1] == 6
