"""The ASGI app under a real uvicorn on 127.0.0.1: routes, errors, access, freshness, sharing.

Freshness is judged by a fake clock and by counting scans and header reads, never by time: a
test changes files, advances the clock past ``revalidate_ms`` (or sets it to 0) and asks again.
"""

from __future__ import annotations

import asyncio
import hmac
import http.client
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import GUARD_SECONDS, Counting, FakeClock, running

import modelscan
from fixtures.make_fixtures import Q8_0, gemma_270m_kv, llm_tensors, write_gguf
from modelscan import SERVER_LIMITS, UsageError, views
from modelscan.server import ModelsApp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
NOT_FOUND_V0 = {
    "error": {
        "message": 'Model "nope" not found.',
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, ModelsApp]]:
    """One server over the committed fixtures (read-only)."""
    app = ModelsApp(FIXTURES)
    with running(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def report() -> modelscan.ScanReport:
    return modelscan.scan_models(FIXTURES, limits=SERVER_LIMITS)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "models")
    return tmp_path / "models"


def get(url: str, path: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=url) as client:
        return client.get(path, **kwargs)


def keys(response: httpx.Response) -> list[str]:
    return [m["key"] for m in response.json()["models"]]


# --- routes ---------------------------------------------------------------------------------------


def test_every_route_serves_its_view(served: tuple[str, ModelsApp], report: modelscan.ScanReport) -> None:
    url, _ = served
    models = report.models
    expected = {
        "/api/v1/models": views.to_v1(models),
        "/api/v0/models": views.to_v0(models),
        "/v1/models": views.to_openai(models),
        "/api/tags": views.to_ollama_tags(models),
        "/health": {"status": "ok", "models": 11, "problems": 3},
    }
    with httpx.Client(base_url=url) as client:
        for path, doc in expected.items():
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == "application/json"
            assert response.content == views.dumps(doc), path


def test_v1_bytes_equal_the_command_lines_output(served: tuple[str, ModelsApp]) -> None:
    url, _ = served
    cli = subprocess.run(
        [sys.executable, "-m", "modelscan", "--server-limits", str(FIXTURES)], capture_output=True, check=True
    )
    assert get(url, "/api/v1/models").content == cli.stdout
    cli_v0 = subprocess.run(
        [sys.executable, "-m", "modelscan", "--server-limits", "--view", "v0", str(FIXTURES)],
        capture_output=True,
        check=True,
    )
    assert get(url, "/api/v0/models").content == cli_v0.stdout


def test_v0_items_by_id_ids_may_hold_a_slash(served: tuple[str, ModelsApp], report: modelscan.ScanReport) -> None:
    url, _ = served
    (model,) = [m for m in report.models if m.key == "bartowski/llama-3.2-1b-instruct"]
    expected = views.dumps(views.to_v0_item(model))
    assert get(url, "/api/v0/models/bartowski/llama-3.2-1b-instruct").content == expected
    assert get(url, "/api/v0/models/bartowski%2Fllama-3.2-1b-instruct").content == expected
    assert get(url, "/api/v0/models/qwen2.5-0.5b-instruct@q8_0").json()["quantization"] == "Q8_0"


def test_v0_unknown_id_is_lm_studios_404(served: tuple[str, ModelsApp]) -> None:
    url, _ = served
    response = get(url, "/api/v0/models/nope")
    assert (response.status_code, response.json()) == (404, NOT_FOUND_V0)
    # An id is looked up in the listing, never joined to a path (http.client sends "..", unnormalized).
    host, port = url.removeprefix("http://").split(":")
    for hostile in ("../../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/etc/passwd", "lmstudio-community"):
        conn = http.client.HTTPConnection(host, int(port), timeout=GUARD_SECONDS)
        conn.request("GET", "/api/v0/models/" + hostile)
        raw = conn.getresponse()
        assert raw.status == 404, hostile
        assert json.loads(raw.read())["error"]["code"] == "model_not_found", hostile
        conn.close()


def test_show(served: tuple[str, ModelsApp], report: modelscan.ScanReport) -> None:
    url, _ = served
    (gemma,) = [m for m in report.models if m.key == "gemma-3-270m-it-qat"]
    with httpx.Client(base_url=url) as client:
        response = client.post("/api/show", json={"model": "gemma-3-270m-it-qat"})
        assert (response.status_code, response.content) == (200, views.dumps(views.to_ollama_show(gemma)))
        assert client.post("/api/show", json={"name": "gemma-3-270m-it-qat:latest"}).content == response.content
        missing = client.post("/api/show", json={"model": "../gemma-3-270m-it-qat"})
        assert (missing.status_code, missing.json()) == (404, {"error": "model '../gemma-3-270m-it-qat' not found"})


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"model":', "invalid JSON body"),
        (b"", "invalid JSON body"),
        (b"\xff\xfe{", "invalid JSON body"),
        (b"[" * 100_000 + b"]" * 100_000, None),  # over the cap: 413 below
        (b"[" * 30_000 + b"]" * 30_000, "invalid JSON body"),
        (b'["gemma-3-270m-it-qat"]', "model is required"),
        (b'{"model": 3}', "model is required"),
        (b'{"model": ""}', "model is required"),
        (b"{}", "model is required"),
    ],
)
def test_show_bad_bodies_are_400(served: tuple[str, ModelsApp], body: bytes, error: str | None) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as client:
        response = client.post("/api/show", content=body)
    if error is None:
        assert (response.status_code, response.json()) == (413, {"error": "request body over 65536 bytes"})
    else:
        assert (response.status_code, response.json()) == (400, {"error": error})


def test_errors_are_json_with_the_right_status(served: tuple[str, ModelsApp]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as client:
        unknown = client.get("/api/v2/models")
        assert (unknown.status_code, unknown.json()) == (
            404,
            {"error": "Unexpected endpoint or method. (GET /api/v2/models)"},
        )
        wrong = client.post("/api/v1/models")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, HEAD")
        assert wrong.json() == {"error": "Unexpected endpoint or method. (POST /api/v1/models)"}
        show = client.get("/api/show")
        assert (show.status_code, show.headers["allow"], show.json()) == (
            405,
            "POST",
            {"error": "method GET not allowed; use POST"},
        )
        for response in (unknown, wrong, show):
            assert response.headers["content-type"] == "application/json"
        head = client.head("/api/v1/models")
        assert (head.status_code, head.content) == (200, b"")
        assert int(head.headers["content-length"]) == len(client.get("/api/v1/models").content)
        options = client.options("/api/tags")
        assert (options.status_code, options.headers["allow"]) == (204, "GET, HEAD, OPTIONS")
        assert "access-control-allow-origin" not in options.headers
        assert client.get("/api/v1/models/").status_code == 200  # a trailing slash is the same route


# --- access -----------------------------------------------------------------------------------


def test_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    app = ModelsApp(FIXTURES, api_key="s3cret")
    with running(app) as url, httpx.Client(base_url=url) as client:
        bare = client.get("/api/v1/models")
        assert (bare.status_code, bare.headers["www-authenticate"]) == (401, "Bearer")
        assert bare.json() == {
            "error": {
                "message": "Missing or invalid API key: send Authorization: Bearer <api key>",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        for header in ("Bearer wrong", "Bearer s3cre", "Basic s3cret", "s3cret", "Bearer s3cret2"):
            assert client.get("/v1/models", headers={"Authorization": header}).status_code == 401, header
        ollama = client.get("/api/tags")
        assert (ollama.status_code, ollama.json()) == (
            401,
            {"error": "unauthorized: send Authorization: Bearer <api key>"},
        )
        assert client.get("/nope").status_code == 401  # nothing is told without the key
        good = {"Authorization": "Bearer s3cret"}
        assert client.get("/api/v1/models", headers=good).status_code == 200
        assert client.get("/api/v1/models", headers={"authorization": "bearer s3cret"}).status_code == 200
        assert client.post("/api/show", headers=good, json={"model": "unlabelled"}).status_code == 200
        assert client.options("/api/v1/models").status_code == 204  # preflights carry no credentials
    assert (b"s3cret", b"s3cret") in compared  # every check went through hmac.compare_digest
    assert (b"wrong", b"s3cret") in compared


def test_cors_only_for_listed_origins() -> None:
    app = ModelsApp(FIXTURES, cors_origins=["http://localhost:3000"])
    with running(app) as url, httpx.Client(base_url=url) as client:
        allowed = client.get("/api/v1/models", headers={"Origin": "http://localhost:3000"})
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert allowed.headers["vary"] == "Origin"
        other = client.get("/api/v1/models", headers={"Origin": "http://evil.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
        preflight = client.options(
            "/api/show",
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-methods"] == "POST, OPTIONS"
        assert preflight.headers["access-control-allow-headers"] == "authorization, content-type"
        error = client.get("/api/v0/models/nope", headers={"Origin": "http://localhost:3000"})
        assert error.headers["access-control-allow-origin"] == "http://localhost:3000"  # a browser sees errors too
    # Off by default (the module's server has no origins).
    with running(ModelsApp(FIXTURES)) as url:
        response = get(url, "/api/v1/models", headers={"Origin": "http://localhost:3000"})
        assert "access-control-allow-origin" not in response.headers


def test_body_cap_stops_reading_chunked_bodies() -> None:
    """A body sent in chunks without Content-Length is refused once over the cap, not read whole."""
    app = ModelsApp(FIXTURES, max_body_bytes=100)
    received = 0

    async def receive() -> MutableMapping[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 60, "more_body": True}  # endless

    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": "POST", "path": "/api/show", "headers": [], "root_path": ""}
    asyncio.run(app(scope, receive, send))
    assert received == 2  # 120 bytes > 100: stopped
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {"error": "request body over 100 bytes"}


# --- freshness ------------------------------------------------------------------------------------


def _add_model(folder: Path, name: str = "fresh-Q8_0.gguf") -> Path:
    return write_gguf(folder / name, "gemma3", gemma_270m_kv(), llm_tensors(Q8_0))


def wait_until(condition: Callable[[], bool]) -> None:
    """Until a background rescan is done (a hang guard, not a judgement of time)."""
    deadline = time.monotonic() + GUARD_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the background rescan never ended"
        time.sleep(0.002)


def test_unchanged_folders_are_neither_rescanned_nor_reread(root: Path) -> None:
    clock = FakeClock()
    app = ModelsApp(root, clock=clock, revalidate_ms=500)
    with running(app) as url, httpx.Client(base_url=url) as client:
        first = client.get("/api/v1/models").content
        assert app.scans == 1 and app.renders == 1  # the startup scan
        misses = app.cache.misses
        for _ in range(5):
            assert client.get("/api/v1/models").content == first
        assert app.scans == 1  # within 500 ms: no walk at all
        clock.advance(0.4921875)  # 500 ms less 1/128 s (binary fractions: exact floats)
        client.get("/api/tags")
        assert app.scans == 1
        clock.advance(0.0078125)  # 500 ms: answered at once, and a rescan starts in the background
        assert client.get("/api/v1/models").content == first
        wait_until(lambda: app.scans == 2)
        clock.advance(1.0)  # 1 s (twice revalidate_ms): the request waits for its rescan
        assert client.get("/api/v1/models").content == first
        assert app.scans == 3
        assert app.cache.misses == misses  # two walks, and no header read again
        assert app.renders == 1  # same models: the bytes were kept


def test_added_replaced_and_deleted_files_show_within_the_bound(root: Path) -> None:
    """A change is in every response from 2 * revalidate_ms after it on, and from the background
    rescan that a request after revalidate_ms started."""
    clock = FakeClock()
    app = ModelsApp(root, clock=clock, revalidate_ms=500)
    folder = root / "new-pub" / "Fresh-GGUF"
    with running(app) as url, httpx.Client(base_url=url) as client:
        before = keys(client.get("/api/v1/models"))
        assert "fresh" not in before
        path = _add_model(folder)
        assert keys(client.get("/api/v1/models")) == before  # not yet: the listing is 0 ms old
        clock.advance(1.0)
        assert "fresh" in keys(client.get("/api/v1/models"))
        # Replaced by another file (a new inode, another size and quant).
        replacement = folder / "tmp"
        write_gguf(replacement, "gemma3", {**gemma_270m_kv(), "general.file_type": 7}, llm_tensors(Q8_0, layers=2))
        os.replace(replacement, path)
        clock.advance(1.0)
        (entry,) = [m for m in client.get("/api/v1/models").json()["models"] if m["key"] == "fresh"]
        assert entry["size_bytes"] == path.stat().st_size
        # Deleted, seen through a background rescan.
        path.unlink()
        scans = app.scans
        clock.advance(0.5)
        assert "fresh" in keys(client.get("/api/v1/models"))  # answered from the listing...
        wait_until(lambda: app.scans == scans + 1)
        assert keys(client.get("/api/v1/models")) == before  # ...which the rescan it started replaced
        assert client.get("/api/v0/models/fresh").status_code == 404


def test_interval_0_rescans_on_every_request(root: Path) -> None:
    app = ModelsApp(root, revalidate_ms=0)
    with running(app) as url, httpx.Client(base_url=url) as client:
        scans = app.scans
        before = keys(client.get("/api/v1/models"))
        path = _add_model(root / "new-pub" / "Fresh-GGUF")
        assert "fresh" in keys(client.get("/api/v1/models"))
        path.unlink()
        assert keys(client.get("/api/v1/models")) == before
        assert app.scans == scans + 3


def test_concurrent_requests_during_a_rescan_share_it(root: Path) -> None:
    """N requests arrive while a rescan is held up: all wait for that one scan."""
    clock = FakeClock()
    n = 12
    release = threading.Event()
    calls = 0

    def loaded() -> dict[str, object]:
        nonlocal calls
        calls += 1
        if calls > 1:  # the startup scan passes; the rescan waits until every request is in
            deadline = time.monotonic() + GUARD_SECONDS
            while counting.requests < n and time.monotonic() < deadline:
                time.sleep(0.001)
            release.set()
        return {}

    app = ModelsApp(root, clock=clock, loaded=loaded)
    counting = Counting(app)
    with running(counting) as url:
        assert app.scans == 1
        _add_model(root / "new-pub" / "Fresh-GGUF")
        clock.advance(1)
        results: list[bytes] = []

        def ask() -> None:
            results.append(get(url, "/api/v1/models").content)

        threads = [threading.Thread(target=ask) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(GUARD_SECONDS)
        assert release.is_set() and counting.requests == n
        assert app.scans == 2  # one rescan for all twelve
        assert len(results) == n and len(set(results)) == 1
        assert b'"fresh"' in results[0]


def test_loaded_instances_from_a_callable(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="modelscan")
    state: dict[str, object] = {"gemma-3-270m-it-qat": [{"config": {"context_length": 8192}}]}
    clock = FakeClock()
    app = ModelsApp(root, loaded=lambda: state, clock=clock)
    with running(app) as url, httpx.Client(base_url=url) as client:
        v0 = client.get("/api/v0/models/gemma-3-270m-it-qat").json()
        assert (v0["state"], v0["loaded_context_length"]) == ("loaded", 8192)
        (entry,) = [m for m in client.get("/api/v1/models").json()["models"] if m["key"] == "gemma-3-270m-it-qat"]
        assert entry["loaded_instances"][0]["config"]["context_length"] == 8192
        state = {"no-such-model": [{}], "unlabelled": [{"config": {"flash_attention": 1}}], "gemma-3-4b-it": [{}]}
        app.invalidate()  # a server that loads a model says so; no clock needed
        body = client.get("/api/v0/models").json()["data"]
        assert [i["id"] for i in body if i["state"] == "loaded"] == ["gemma-3-4b-it"]
        renders = app.renders
        clock.advance(1)
        client.get("/api/v0/models")
        assert app.renders == renders  # the same instances: nothing rendered again
    messages = [r.getMessage() for r in caplog.records if r.name == "modelscan.server"]
    assert "loaded instances: loaded names unknown model key(s): 'no-such-model'; left out" in messages
    assert any("config.flash_attention must be a bool" in m for m in messages)
    assert len(messages) == len(set(messages))  # each said once


def test_a_bad_model_file_is_a_log_line_not_an_error(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="modelscan")
    bad = root / "evil" / "Broken-GGUF" / "broken-Q4_0.gguf"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    app = ModelsApp(root, revalidate_ms=0)
    with running(app) as url, httpx.Client(base_url=url) as client:
        for path in ("/api/v1/models", "/api/v0/models", "/v1/models", "/api/tags", "/health"):
            assert client.get(path).status_code == 200
        assert len(client.get("/api/v1/models").json()["models"]) == 11
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(bad) in r.getMessage()]
    assert len(lines) == 1  # logged once, although every request rescanned


def test_mounted_in_fastapi_with_one_line(tmp_path: Path) -> None:
    fastapi = pytest.importorskip("fastapi")
    api = fastapi.FastAPI()

    @api.get("/hello")  # type: ignore[untyped-decorator]  # FastAPI's decorators are not typed
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    app = ModelsApp(FIXTURES)
    api.mount("/lmstudio", app)
    with running(api) as url, httpx.Client(base_url=url) as client:
        assert client.get("/hello").json() == {"hello": "world"}
        mounted = client.get("/lmstudio/api/v1/models")
        assert mounted.status_code == 200
        assert mounted.content == views.dumps(views.to_v1(modelscan.scan_models(FIXTURES, limits=SERVER_LIMITS).models))
        assert client.get("/lmstudio/api/v0/models/bartowski/llama-3.2-1b-instruct").status_code == 200
        assert client.get("/lmstudio/nope").json() == {"error": "Unexpected endpoint or method. (GET /nope)"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one path"),
        ({"paths": (FIXTURES,), "api_key": ""}, "api_key"),
        ({"paths": (FIXTURES,), "cors_origins": "http://x"}, "cors_origins"),
        ({"paths": (FIXTURES,), "revalidate_ms": -1}, "revalidate_ms"),
        ({"paths": (FIXTURES,), "max_body_bytes": -1}, "max_body_bytes"),
        ({"paths": (FIXTURES,), "loaded": {"a": []}}, "callable"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], message: str) -> None:
    paths = kwargs.pop("paths", ())
    with pytest.raises(UsageError, match=message):
        ModelsApp(*paths, **kwargs)


def test_importing_modelscan_imports_no_server() -> None:
    code = (
        "import sys, modelscan; modelscan.list_models(sys.argv[1]);"
        "print('modelscan.server' in sys.modules, 'modelscan.views' in sys.modules, 'uvicorn' in sys.modules);"
        "import modelscan.server; print('uvicorn' in sys.modules, 'asyncio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(FIXTURES)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "False", "True"]


def test_a_slow_rescan_spaces_the_background_ones(root: Path) -> None:
    """Background rescans take at most a quarter of the time: after a rescan of 187.5 ms, the
    next one starts 750 ms after it, not 500 ms. (Times are binary fractions: exact floats.)"""
    clock = FakeClock()
    slow = {"on": False}

    def loaded() -> dict[str, object]:
        if slow["on"]:
            clock.advance(0.1875)  # this rescan "took" 187.5 ms
        return {}

    app = ModelsApp(root, clock=clock, loaded=loaded, revalidate_ms=500)
    with running(app) as url, httpx.Client(base_url=url) as client:
        slow["on"] = True
        clock.advance(1.0)
        client.get("/api/tags")  # waits for a rescan, which takes 187.5 ms
        assert app.scans == 2
        slow["on"] = False
        clock.advance(0.5)  # 687.5 ms after it started
        client.get("/api/tags")
        assert app.scans == 2
        clock.advance(0.0625)  # 750 ms: a rescan in the background, which takes no time
        client.get("/api/tags")
        wait_until(lambda: app.scans == 3)
        clock.advance(0.5)  # back to every 500 ms
        client.get("/api/tags")
        wait_until(lambda: app.scans == 4)


def test_the_freshness_bound_holds_however_slow_the_rescans(root: Path) -> None:
    """Rescans of 500 ms space the background ones 2 s apart, but a listing 1 s old is never served."""
    clock = FakeClock()
    slow = {"on": False}

    def loaded() -> dict[str, object]:
        if slow["on"]:
            clock.advance(0.5)
        return {}

    app = ModelsApp(root, clock=clock, loaded=loaded, revalidate_ms=500)
    with running(app) as url, httpx.Client(base_url=url) as client:
        slow["on"] = True
        clock.advance(1.0)
        client.get("/api/tags")  # waits for a rescan, which takes 500 ms
        assert app.scans == 2
        for expected in (3, 4):
            clock.advance(0.5)  # 1 s after the last rescan started (it took the first 500 ms)
            client.get("/api/tags")
            assert app.scans == expected  # waited for: 2 * revalidate_ms is the bound


def test_options_of_an_unknown_route(served: tuple[str, ModelsApp]) -> None:
    url, _ = served
    response = httpx.options(url + "/nope")
    assert (response.status_code, response.json()) == (404, {"error": "Unexpected endpoint or method. (OPTIONS /nope)"})
