"""The views over HTTP: one ASGI application on the plain ASGI interface, no web framework.

============================ ===================================================================
route                        body
============================ ===================================================================
``GET /api/v1/models``       LM Studio's list (``views.to_v1``), the same bytes as ``modelscan``
``GET /api/v0/models``       LM Studio's legacy list (``views.to_v0``)
``GET /api/v0/models/{id}``  one legacy item; *id* is a key of the listing and may hold ``/``
``GET /v1/models``           OpenAI-compatible list: LM Studio's body (``openai_strict``: with ``created``)
``GET /api/tags``            Ollama's list (``views.to_ollama_tags``)
``POST /api/show``           Ollama's ``/api/show`` for ``{"model": name}``
``GET /health``              ``{"status": "ok", "models": N, "problems": M}``
============================ ===================================================================

Every ``GET`` route answers ``HEAD`` too; ``OPTIONS`` answers with ``Allow`` (and CORS
preflight headers for an allowed origin).

**Fresh and cheap.** The listing is a snapshot: the models of one scan and the response bytes of
each view, rendered once (by the rescan for the views asked for before, else on the first
request). A rescan walks the paths with the app's :class:`~modelscan.ScanCache` (one ``stat`` per
file; headers are read again only for files that changed); when it finds the same models,
problems and loaded instances, the bytes are kept. Ages are measured by the injectable ``clock``:

- a listing younger than ``revalidate_ms`` is served as it is;
- from ``revalidate_ms`` on, a request starts a rescan in the background (one at a time) and is
  answered from the listing; on a tree so large that a rescan takes more than a quarter of
  ``revalidate_ms``, background rescans are spaced four times their duration instead;
- from ``2 * revalidate_ms`` on (or after ``invalidate()``), a request waits for a rescan, and so
  does every request arriving meanwhile: one scan for all of them.

So a response never shows the disk as it was more than ``2 * revalidate_ms`` before (1 s by
default), and a busy server does not stall on its rescans. ``revalidate_ms=0``: every request
waits for a rescan of its own. A server that loads a model calls ``invalidate()``.

**Safe by default.** No filesystem path is ever taken from a request: ids and names are looked
up in the listing. With ``api_key`` every request but ``OPTIONS`` needs ``Authorization: Bearer
<key>`` (compared in constant time), else 401. CORS headers go only to the origins listed in
``cors_origins``. A request body over ``max_body_bytes`` is a 413, before it is read whole.
Every error is a JSON body: ``{"error": {...}}`` as OpenAI and LM Studio's v0 send it on
LM Studio's routes, ``{"error": "..."}`` on Ollama's and for unknown routes. A bad model file is
a log line (logger ``modelscan``) and a missing entry, never an HTTP error.

Mounting: ``app.mount("/lms", ModelsApp("~/models"))`` in FastAPI or Starlette serves the routes
under ``/lms`` (the mount's ``root_path`` is taken off the request path). The app runs under any
asyncio-based ASGI server; rescans run in the event loop's default executor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

from .cache import ScanCache
from .errors import ModelScanError, UsageError, display_path
from .facts import ModelFacts
from .limits import SERVER_LIMITS, Limits
from .response import check_loaded, sort_models
from .scan import ScanReport, scan_models
from .shapes import LoadedInstance, V0Model
from .views import dumps, to_ollama_show, to_ollama_tags, to_openai, to_v0_item, to_v1

__all__ = ["ModelsApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: What a loaded-instances callable returns: model key -> instances, as ``list_models(loaded=)``.
LoadedFn = Callable[[], "Mapping[str, object] | None"]

logger = logging.getLogger("modelscan.server")

_JSON = (b"content-type", b"application/json")


@dataclasses.dataclass(frozen=True)
class _Route:
    methods: tuple[str, ...]
    ollama: bool  # the error shape: Ollama's {"error": "..."} or OpenAI's {"error": {...}}
    view: str


_GET = ("GET", "HEAD")
_ROUTES: Mapping[str, _Route] = {
    "/api/v1/models": _Route(_GET, False, "v1"),
    "/api/v0/models": _Route(_GET, False, "v0"),
    "/v1/models": _Route(_GET, False, "openai"),
    "/api/tags": _Route(_GET, True, "tags"),
    "/api/show": _Route(("POST",), True, "show"),
    "/health": _Route(_GET, False, "health"),
}
_V0_ITEM_PREFIX = "/api/v0/models/"
_V0_ITEM = _Route(_GET, False, "v0-item")
_WARNED_MAX = 1000  # distinct warnings remembered, so that each is logged once
#: Rescans in the background take at most this share of the time: one starts once the listing is
#: ``revalidate_ms`` old, or ``last rescan's duration / _SCAN_SHARE`` old when that is longer (a
#: tree whose walk takes 300 ms is not rescanned all the time).
_SCAN_SHARE = 0.25


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    """One scan's models, and the response bytes of each view, rendered at most once."""

    checked: float  # the clock when the scan started
    models: tuple[ModelFacts, ...]
    problems: tuple[ModelScanError, ...]
    problem_ids: tuple[tuple[str, str, str], ...]
    loaded: Mapping[str, list[LoadedInstance]]
    by_name: Mapping[str, ModelFacts]
    #: Bodies rendered so far, by route view (``v1``...) or ``<view>:<key>`` for one model; a
    #: snapshot whose listing did not change hands the same dict on.
    bodies: dict[str, bytes] = dataclasses.field(default_factory=dict)


class ModelsApp:
    """An ASGI application serving the views of the models under *paths*.

    *loaded*: a callable returning the loaded instances (model key -> instances, the shape of
    ``list_models(loaded=)``), called at each rescan; a key no model has or a malformed instance
    is logged once and left out. *api_key*: the bearer token every request must carry.
    *cors_origins*: origins that may read responses from a browser (``"*"`` for any).
    *revalidate_ms*: from this age on a request starts a rescan in the background, from twice
    this age it waits for one (0: every request waits for a rescan of its own).
    *clock*: seconds, monotonic (tests pass a fake one). *limits*, *cache*, *workers*: as
    :func:`~modelscan.scan_models` takes them (default ``SERVER_LIMITS`` and a cache of its own).
    *openai_strict*: ``/v1/models`` items carry ``created``. *variants*, *parallel*: the later
    LM Studio fields of ``/api/v1/models`` (see :func:`~modelscan.views.to_v1`).

    Raises :class:`~modelscan.UsageError` for no path or a bad option.
    """

    def __init__(
        self,
        *paths: str | os.PathLike[str],
        loaded: LoadedFn | None = None,
        api_key: str | None = None,
        cors_origins: Sequence[str] = (),
        revalidate_ms: float = 500,
        clock: Callable[[], float] = time.monotonic,
        limits: Limits = SERVER_LIMITS,
        cache: ScanCache | None = None,
        workers: int | None = None,
        max_body_bytes: int = 65_536,
        openai_strict: bool = False,
        variants: bool = False,
        parallel: bool = False,
    ) -> None:
        if not paths:
            raise UsageError("ModelsApp needs at least one path to scan")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise UsageError("api_key must be a non-empty string (or None for no key)")
        if isinstance(cors_origins, str) or not all(isinstance(o, str) and o for o in cors_origins):
            raise UsageError("cors_origins must be a list of origins, such as ['http://localhost:3000']")
        if not revalidate_ms >= 0:
            raise UsageError(f"revalidate_ms must be at least 0, not {revalidate_ms!r}")
        if max_body_bytes < 0:
            raise UsageError(f"max_body_bytes must be at least 0, not {max_body_bytes!r}")
        if loaded is not None and not callable(loaded):
            raise UsageError("loaded must be a callable returning the loaded instances")
        self.paths = tuple(paths)
        self._loaded = loaded
        self._key = None if api_key is None else api_key.encode("utf-8")
        self._origins = frozenset(cors_origins)
        self._interval = revalidate_ms / 1000
        self._clock = clock
        self._limits = limits
        self.cache = ScanCache() if cache is None else cache
        self._workers = workers
        self._max_body = max_body_bytes
        self._strict = openai_strict
        self._variants = variants
        self._parallel = parallel
        self._snap: _Snapshot | None = None
        self._stale = True
        self._scan_seconds = 0.0  # how long the last rescan took, by the app's clock
        self._generation = 0  # rescans ended
        self._wanted = frozenset({"v1", "health"})  # views each rescan renders (others: once asked for)
        self._pending: dict[asyncio.AbstractEventLoop, asyncio.Future[_Snapshot]] = {}
        self._warned: set[str] = set()
        #: How many times the app scanned its paths (the walk that revalidates the listing), and
        #: how many times it rendered the views' bytes (only when what they show changed).
        self.scans = 0
        self.renders = 0

    # --- the listing ------------------------------------------------------------------------

    def invalidate(self) -> None:
        """Make the next request rescan, however young the listing (loaded instances changed)."""
        self._stale = True

    def refresh(self) -> ScanReport:
        """Rescan now and return what the routes serve from then on (blocking: not from the loop)."""
        self._stale = True
        snap = self._refresh()
        return ScanReport(list(snap.models), list(snap.problems))

    def _windows(self) -> tuple[float, float]:
        """How old the listing may get: past the first age a request starts a rescan in the
        background and is answered from the listing; past the second it waits for a rescan."""
        if not self._interval:
            return 0.0, 0.0
        return max(self._interval, self._scan_seconds / _SCAN_SHARE), 2 * self._interval

    async def _snapshot(self) -> _Snapshot:
        snap = self._snap
        if snap is not None and not self._stale:
            soft, hard = self._windows()
            age = self._clock() - snap.checked
            if age < hard:
                if age >= soft:
                    self._rescan_soon()
                return snap
        return await asyncio.shield(self._rescan_soon())

    def _rescan_soon(self) -> asyncio.Future[_Snapshot]:
        """The rescan under way in this loop, or a new one (``ScanCache.shared`` coalesces across loops)."""
        loop = asyncio.get_running_loop()
        pending = self._pending.get(loop)
        if pending is None:
            pending = loop.run_in_executor(None, self._refresh)
            self._pending[loop] = pending
            pending.add_done_callback(functools.partial(self._rescanned, loop))
        return pending

    def _rescanned(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future[_Snapshot]) -> None:
        self._pending.pop(loop, None)
        if not done.cancelled():
            done.exception()  # seen here: a failed rescan nobody waited for is in the log already

    def _refresh(self) -> _Snapshot:
        seen = self._generation
        return self.cache.shared(("modelscan.server", id(self)), lambda: self._rescan(seen))

    def _rescan(self, seen: int) -> _Snapshot:
        old = self._snap
        if old is not None and self._generation != seen and not self._stale:
            return old  # a rescan ended while this one waited for its turn: no need for another
        now = self._clock()
        self._stale = False
        scanned = False
        try:
            snap = self._scanned(now, old)
            scanned = True
        except Exception:
            if old is None:
                raise
            logger.exception("rescan of %s failed; serving the previous listing", _shown_paths(self.paths))
            snap = dataclasses.replace(old, checked=now)
        if old is not None:  # the first scan is cold (every header read): it does not space rescans
            self._scan_seconds = max(0.0, self._clock() - now)
        self._snap = snap
        self._generation += 1
        if scanned:  # counted once its snapshot is the one served
            self.scans += 1
        return snap

    def _scanned(self, now: float, old: _Snapshot | None) -> _Snapshot:
        """A snapshot of the listing now: *old* again (its bodies kept) when nothing it shows changed."""
        report = scan_models(*self.paths, limits=self._limits, cache=self.cache, workers=self._workers)
        models = tuple(report.models)
        problems = tuple(report.problems)
        problem_ids = tuple((p.path, p.code, p.detail) for p in problems)
        loaded = self._current_loaded(models)
        if old is not None and (old.models, old.problem_ids, old.loaded) == (models, problem_ids, loaded):
            return dataclasses.replace(old, checked=now)
        self.renders += 1
        snap = _Snapshot(now, models, problems, problem_ids, loaded, {m.key: m for m in models})
        for view in self._wanted:
            self._body(snap, view)
        counts = f"{_plural(len(models), 'model')}, {_plural(len(problems), 'problem')}"
        if old is None:
            logger.info("%s in %s", counts, _shown_paths(self.paths))
        else:
            logger.info("the listing changed: %s", counts)
        return snap

    def _warn_once(self, message: str) -> None:
        if message in self._warned:
            return
        if len(self._warned) >= _WARNED_MAX:
            self._warned.clear()
        self._warned.add(message)
        logger.warning("%s", message)

    def _current_loaded(self, models: Sequence[ModelFacts]) -> dict[str, list[LoadedInstance]]:
        """The callable's loaded instances, checked and shaped; what is wrong is logged and left out."""
        if self._loaded is None:
            return {}
        try:
            raw = self._loaded()
        except Exception as exc:
            self._warn_once(f"loaded instances: the callable raised {type(exc).__name__}: {exc}")
            return {}
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self._warn_once(f"loaded instances: expected a mapping of model key to instances, got {type(raw).__name__}")
            return {}
        out: dict[str, list[LoadedInstance]] = {}
        for key, given in raw.items():
            try:
                out.update(check_loaded(models, {key: given}, parallel=self._parallel))
            except UsageError as exc:
                self._warn_once(f"loaded instances: {exc}; left out")
        return out

    def _body(self, snap: _Snapshot, view: str) -> bytes:
        """The body of a list view (``v1``, ``v0``, ``openai``, ``tags``, ``health``), rendered once per snapshot."""
        body = snap.bodies.get(view)
        if body is not None:
            return body
        models = snap.models
        if view == "v1":
            doc: object = to_v1(models, snap.loaded, parallel=self._parallel, variants=self._variants)
        elif view == "v0":
            doc = {"object": "list", "data": [self._v0_item(snap, m) for m in sort_models(models)]}
        elif view == "openai":
            doc = to_openai(models, strict=self._strict)
        elif view == "tags":
            doc = to_ollama_tags(models)
        else:
            doc = {"status": "ok", "models": len(models), "problems": len(snap.problems)}
        body = snap.bodies[view] = dumps(doc)
        return body

    def _v0_item(self, snap: _Snapshot, model: ModelFacts) -> V0Model:
        return to_v0_item(model, snap.loaded.get(model.key, ()))

    # --- HTTP -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":  # no websocket routes: refuse the handshake (403)
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._snapshot()
                except Exception as exc:
                    logger.exception("the first scan failed")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        headers = _headers(scope)
        cors = self._cors(headers)
        if path in _ROUTES:
            route: _Route | None = _ROUTES[path]
        elif path.startswith(_V0_ITEM_PREFIX):
            route = _V0_ITEM
        else:
            route = _ROUTES.get(path.rstrip("/")) if path.endswith("/") else None
        if method == "OPTIONS":
            await self._options(send, route, path, cors, headers)
            return
        if self._key is not None and not self._authorized(headers):
            await self._unauthorized(send, route, cors)
            return
        if route is None:
            await _error(send, 404, f"Unexpected endpoint or method. ({method} {path})", cors)
            return
        if method not in route.methods:
            allow = [(b"allow", ", ".join(route.methods).encode("ascii")), *cors]
            if route.ollama:
                await _error(send, 405, f"method {method} not allowed; use {' or '.join(route.methods)}", allow)
            else:
                await _error(send, 405, f"Unexpected endpoint or method. ({method} {path})", allow)
            return
        if route.view == "show":
            await self._show(receive, send, headers, cors)
        else:
            await self._get(send, route, path, cors, head=method == "HEAD")

    async def _snapshot_or_500(self, send: Send, cors: list[tuple[bytes, bytes]]) -> _Snapshot | None:
        """The current snapshot; ``None`` when the scan failed (logged, and answered with a 500)."""
        try:
            return await self._snapshot()
        except Exception:
            logger.exception("scan of %s failed", _shown_paths(self.paths))
            await _error(send, 500, "the models could not be listed; see the server's log", cors)
            return None

    async def _get(self, send: Send, route: _Route, path: str, cors: list[tuple[bytes, bytes]], head: bool) -> None:
        """A GET (or HEAD) route: the snapshot's bytes."""
        snap = await self._snapshot_or_500(send, cors)
        if snap is None:
            return
        if route.view == "v0-item":
            await self._send_v0_item(send, snap, path[len(_V0_ITEM_PREFIX) :], cors, head)
            return
        body = snap.bodies.get(route.view)
        if body is None:  # the first request for this view: rendered aside, and by every rescan from now on
            self._wanted = self._wanted | {route.view}
            body = await asyncio.get_running_loop().run_in_executor(None, self._body, snap, route.view)
        await _respond(send, 200, body, cors, head)

    async def _send_v0_item(
        self, send: Send, snap: _Snapshot, model_id: str, cors: list[tuple[bytes, bytes]], head: bool
    ) -> None:
        model = snap.by_name.get(model_id)
        if model is None:
            body = dumps(
                {
                    "error": {
                        "message": f'Model "{model_id}" not found.',
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    }
                }
            )
            await _respond(send, 404, body, cors, head)
            return
        cached = snap.bodies.get("v0:" + model_id)
        if cached is None:
            cached = snap.bodies["v0:" + model_id] = dumps(self._v0_item(snap, model))
        await _respond(send, 200, cached, cors, head)

    async def _show(
        self, receive: Receive, send: Send, headers: Mapping[bytes, bytes], cors: list[tuple[bytes, bytes]]
    ) -> None:
        request = await self._request_body(receive, send, headers, cors)
        if request is None:
            return
        try:
            doc = json.loads(request)
        except (ValueError, RecursionError):  # RecursionError: deeply nested brackets
            await _error(send, 400, "invalid JSON body", cors)
            return
        name = (doc.get("model") or doc.get("name")) if isinstance(doc, dict) else None  # "name": Ollama's old field
        if not isinstance(name, str) or not name:
            await _error(send, 400, "model is required", cors)
            return
        snap = await self._snapshot_or_500(send, cors)
        if snap is None:
            return
        model = _ollama_lookup(snap.by_name, name)
        if model is None:
            await _error(send, 404, f"model '{name}' not found", cors)
            return
        cached = snap.bodies.get("show:" + model.key)
        if cached is None:
            cached = snap.bodies["show:" + model.key] = dumps(to_ollama_show(model))
        await _respond(send, 200, cached, cors)

    async def _request_body(
        self, receive: Receive, send: Send, headers: Mapping[bytes, bytes], cors: list[tuple[bytes, bytes]]
    ) -> bytes | None:
        """The request body, at most ``max_body_bytes``; ``None`` once an error was sent (or the client left)."""
        too_large = f"request body over {self._max_body} bytes"
        declared = headers.get(b"content-length")
        if declared is not None and not declared.isdigit():
            await _error(send, 400, "bad Content-Length", cors)
            return None
        if declared is not None and int(declared) > self._max_body:
            await _error(send, 413, too_large, cors)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                await _error(send, 413, too_large, cors)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # --- access ---------------------------------------------------------------------------

    def _authorized(self, headers: Mapping[bytes, bytes]) -> bool:
        assert self._key is not None
        scheme, _, token = headers.get(b"authorization", b"").strip().partition(b" ")
        # compare_digest takes time independent of where the bytes differ (and runs for any scheme).
        match = hmac.compare_digest(token.strip(), self._key)
        return match and scheme.lower() == b"bearer"

    async def _unauthorized(self, send: Send, route: _Route | None, cors: list[tuple[bytes, bytes]]) -> None:
        headers = [(b"www-authenticate", b"Bearer"), *cors]
        if route is not None and route.ollama:
            await _error(send, 401, "unauthorized: send Authorization: Bearer <api key>", headers)
            return
        body = {
            "error": {
                "message": "Missing or invalid API key: send Authorization: Bearer <api key>",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        await _respond(send, 401, dumps(body), headers)

    def _cors(self, headers: Mapping[bytes, bytes]) -> list[tuple[bytes, bytes]]:
        """CORS response headers for the request's ``Origin``, if that origin is allowed."""
        origin = headers.get(b"origin")
        if origin is None or not self._origins:
            return []
        if "*" in self._origins:
            return [(b"access-control-allow-origin", b"*")]
        if origin.decode("latin-1") in self._origins:
            return [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        return []

    async def _options(
        self,
        send: Send,
        route: _Route | None,
        path: str,
        cors: list[tuple[bytes, bytes]],
        headers: Mapping[bytes, bytes],
    ) -> None:
        if route is None:
            await _error(send, 404, f"Unexpected endpoint or method. (OPTIONS {path})", cors)
            return
        allow = ", ".join((*route.methods, "OPTIONS")).encode("ascii")
        out = [(b"allow", allow), *cors]
        if cors and b"access-control-request-method" in headers:
            out += [
                (b"access-control-allow-methods", allow),
                (b"access-control-allow-headers", b"authorization, content-type"),
                (b"access-control-max-age", b"600"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": out})
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """Request headers by lowercase name (ASGI servers lowercase them); the first of a repeated one."""
    out: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", ()):
        out.setdefault(bytes(name).lower(), bytes(value))
    return out


def _ollama_lookup(by_name: Mapping[str, ModelFacts], name: str) -> ModelFacts | None:
    """A model by name, as Ollama resolves one: ``x`` is ``x:latest`` and ``x:latest`` is ``x``."""
    found = by_name.get(name)
    if found is None and name.endswith(":latest"):
        found = by_name.get(name[: -len(":latest")])
    if found is None and ":" not in name.rsplit("/", 1)[-1]:
        found = by_name.get(name + ":latest")
    return found


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _shown_paths(paths: Sequence[str | os.PathLike[str]]) -> str:
    return ", ".join(display_path(os.fspath(p)) for p in paths)


async def _respond(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = (), head: bool = False
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(body)).encode("ascii")), *headers],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _error(send: Send, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """``{"error": message}``: Ollama's error shape, and LM Studio's for an unknown endpoint."""
    await _respond(send, status, dumps({"error": message}), headers)
