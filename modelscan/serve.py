"""``modelscan serve``: the views over HTTP, under uvicorn (``pip install 'modelscan-lms[serve]'``).

Argument parsing, logging and the listening socket only; the application is
:class:`modelscan.server.ModelsApp`. The socket is bound here, before uvicorn starts, so that the
startup log can name the real URL (``--port 0`` picks a free port) after the first scan:

    INFO:     modelscan: scanning /home/me/.lmstudio/models (listings revalidated after 500 ms, never ...)
    INFO:     modelscan: 12 models, 0 problems in /home/me/.lmstudio/models
    INFO:     modelscan: serving on http://127.0.0.1:1234 (GET /api/v1/models, ...)

Exit status: 0 after Ctrl+C (SIGTERM: the same shutdown, then uvicorn ends the process by that
signal); 1 when the address cannot be bound; 2 for a
usage error, a missing uvicorn, a ``--loaded`` file that cannot be read, or no PATH and no LM
Studio models folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence

from ._roots import command_roots
from .errors import display_path
from .server import ModelsApp

__all__ = ["LoadedFile", "main"]

#: The environment variable holding the bearer token when ``--api-key`` is not given (the one
#: LM Studio's own examples send as ``Authorization: Bearer $LM_API_TOKEN``).
API_KEY_ENV = "LM_API_TOKEN"
_ROUTES = "GET /api/v1/models, /api/v0/models, /api/v0/models/{id}, /v1/models, /api/tags, /health; POST /api/show"

logger = logging.getLogger("modelscan.server")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelscan serve",
        description="Serve the models under PATH over HTTP as LM Studio (/api/v1/models, /api/v0/models), "
        "OpenAI-compatible clients (/v1/models) and Ollama clients (/api/tags, /api/show) list them.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="what to scan, as for modelscan (default: LM Studio's models folder)",
    )
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1, this machine)")
    p.add_argument("--port", type=int, default=1234, help="the port (default: 1234, LM Studio's; 0: any free port)")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"require 'Authorization: Bearer KEY' on every request (default: ${API_KEY_ENV} when set, else none)",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages from ORIGIN (such as http://localhost:3000) read responses; repeat for more "
        "(default: none)",
    )
    p.add_argument(
        "--loaded",
        metavar="FILE",
        help="JSON file mapping model keys to loaded instances, as for modelscan; read again when it changes",
    )
    p.add_argument(
        "--revalidate-ms",
        type=int,
        default=500,
        metavar="MS",
        help="a request finding the listing this old starts a rescan in the background; twice as old, it waits "
        "for one (default: 500; 0: every request waits for a rescan)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes that read headers in a scan of many changed models (default: every CPU; 1: none)",
    )
    p.add_argument("--openai-strict", action="store_true", help="add 'created' to every /v1/models item")
    p.add_argument(
        "--variants",
        action="store_true",
        help="/api/v1/models lists a folder's quantizations as one entry with variants and selected_variant",
    )
    p.add_argument(
        "--parallel", action="store_true", help="/api/v1/models shows config.parallel of loaded LLM instances"
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="the least severe log lines printed on stderr (default: info)",
    )
    p.add_argument("--no-access-log", action="store_true", help="no log line per request")
    return p


class LoadedFile:
    """A ``loaded=`` callable that reads a JSON file, again whenever its inode, size or mtime changed.

    A file that cannot be read or parsed keeps the last good value, and is logged once.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._value: Mapping[str, object] | None = None
        self._error: str | None = None

    def read(self) -> Mapping[str, object] | None:
        """The file's value now; raises ``OSError`` or ``ValueError``."""
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())
            value = json.loads(f.read())
        self._seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        self._value = value
        self._error = None
        return value  # type: ignore[no-any-return]

    def __call__(self) -> Mapping[str, object] | None:
        try:
            st = os.stat(self.path)
            if (st.st_ino, st.st_size, st.st_mtime_ns) != self._seen:
                self.read()
        except (OSError, ValueError) as exc:
            error = str(exc)
            if error != self._error:
                self._error = error
                logger.warning("--loaded %s: %s; keeping the instances read before", display_path(self.path), error)
        return self._value


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on *host*:*port*; raises ``OSError``."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main(argv: Sequence[str]) -> int:
    """Run ``modelscan serve``; returns the exit status when the server stops."""
    args = _parser().parse_args(argv)
    try:
        import uvicorn  # noqa: PLC0415 -- the optional dependency, only here
        import uvicorn.logging  # noqa: PLC0415
    except ImportError:
        print("modelscan serve: uvicorn is not installed: pip install 'modelscan-lms[serve]'", file=sys.stderr)
        return 2
    if args.revalidate_ms < 0 or (args.workers is not None and args.workers < 1):
        print("modelscan serve: --revalidate-ms must be at least 0 and --workers at least 1", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(uvicorn.logging.DefaultFormatter("%(levelprefix)s modelscan: %(message)s"))
    root = logging.getLogger("modelscan")
    root.addHandler(handler)
    root.setLevel(args.log_level.upper())
    root.propagate = False

    paths = command_roots(list(args.paths), prog="modelscan serve")
    if paths is None:
        return 2
    loaded = None
    if args.loaded:
        loaded = LoadedFile(args.loaded)
        try:
            loaded.read()
        except (OSError, ValueError) as exc:
            print(f"modelscan serve: --loaded {display_path(args.loaded)}: {exc}", file=sys.stderr)
            return 2
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    app = ModelsApp(
        *paths,
        loaded=loaded,
        api_key=api_key or None,
        cors_origins=args.cors_origin,
        revalidate_ms=args.revalidate_ms,
        workers=args.workers if args.workers is not None else (os.cpu_count() or 1),
        openai_strict=args.openai_strict,
        variants=args.variants,
        parallel=args.parallel,
    )
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        print(f"modelscan serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    with sock:
        every = (
            f"listings revalidated after {args.revalidate_ms} ms, never served older than {2 * args.revalidate_ms} ms"
            if args.revalidate_ms
            else "rescanned on every request"
        )
        logger.info("scanning %s (%s)", ", ".join(map(display_path, paths)), every)
        app.refresh()
        logger.info("serving on %s (%s)", _url(sock), _ROUTES)
        if api_key is None and not _loopback(sock):
            logger.warning("listening beyond this machine without --api-key: anyone who can reach it can list models")
        config = uvicorn.Config(
            app,
            log_level=args.log_level,
            access_log=not args.no_access_log,
            lifespan="on",
            proxy_headers=False,
            server_header=False,
        )
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn shuts down, then raises the SIGINT it caught
            uvicorn.Server(config).run(sockets=[sock])
    return 0


def _loopback(sock: socket.socket) -> bool:
    host: str = sock.getsockname()[0]
    return host == "::1" or host.startswith("127.")
