"""The ``modelscan`` command: argument parsing and printing only.

stdout: the endpoint's ``{"models": [...]}`` JSON, or another view with ``--view`` (2-space
indent, ASCII-escaped so that any file name stays valid JSON). stderr: one line per problem,
``path: reason``, control characters and undecodable bytes escaped. Exit status: 0; 1 with
``--strict`` when there was a problem; 2 for a usage error, or when no PATH is given and LM
Studio's models folder does not exist.

Subcommands are dispatched on the first argument (``_COMMANDS``): ``modelscan serve ...`` runs
``modelscan.serve.main``. Anything else is a PATH (``./serve`` names a folder called ``serve``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import UsageError, display_path
from .limits import BATCH_LIMITS, SERVER_LIMITS
from .scan import scan_models
from .sources.lmstudio import lmstudio_models_folder
from .views import VIEW_NAMES, ViewName, dumps, render

__all__ = ["main"]

#: Subcommands by first argument: the module whose ``main(argv) -> int`` runs it, imported on use.
_COMMANDS = {"serve": "modelscan.serve"}

_EPILOG = """\
commands:
  modelscan serve [PATH ...]  serve the views over HTTP (modelscan serve --help)

exit status: 0 on success (problems are reported on stderr but do not fail the run);
1 with --strict when any problem was found; 2 on a usage error or when no PATH is given
and LM Studio's models folder does not exist.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelscan",
        description="List local GGUF and MLX models exactly as LM Studio's GET /api/v1/models does, "
        "reading headers only.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="a models root, a publisher folder, a model folder or one model file (default: LM Studio's models folder)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when any problem was found")
    p.add_argument(
        "--view",
        choices=VIEW_NAMES,
        metavar="NAME",
        help="which shape to print: v1 (default: LM Studio's GET /api/v1/models), v0 (LM Studio's legacy "
        "/api/v0/models), openai (LM Studio's GET /v1/models), openai-strict (the same with 'created'), "
        "lms (lms ls --json), ollama (Ollama's GET /api/tags), facts (as --facts)",
    )
    p.add_argument(
        "--facts",
        action="store_true",
        help="print the extended facts (exact parameter counts, real bits per weight, tensor types, "
        "shards, warnings) instead of the endpoint JSON; same as --view facts",
    )
    p.add_argument(
        "--variants",
        action="store_true",
        help="v1 and lms views: list the several quantizations of one folder as one entry with "
        "variants and selected_variant (a later LM Studio form)",
    )
    p.add_argument(
        "--parallel",
        action="store_true",
        help="v1 view: show config.parallel of loaded LLM instances (a later LM Studio field)",
    )
    p.add_argument(
        "--loaded",
        metavar="FILE",
        help="JSON file mapping model keys to loaded instances, as a server would pass them "
        '(e.g. {"gemma-3-270m-it-qat": [{"config": {"context_length": 4096}}]})',
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also print warnings of listed models on stderr")
    p.add_argument(
        "--server-limits",
        action="store_true",
        help="use the tighter limits meant for servers instead of the batch defaults",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes that read headers in a cold scan of many models (default: every CPU from 64 "
        "model folders on; 1: none)",
    )
    p.add_argument("--version", action="version", version=f"modelscan {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (a subcommand, or the listing); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _COMMANDS:
        command: Callable[[list[str]], int] = importlib.import_module(_COMMANDS[argv[0]]).main
        return command(argv[1:])
    return _list(argv)


def _list(argv: list[str]) -> int:
    """``modelscan [PATH ...]``: print a view of the models found."""
    args = _parser().parse_args(argv)
    if args.facts and args.view not in (None, "facts"):
        print(f"modelscan: --facts and --view {args.view} ask for two views; give one", file=sys.stderr)
        return 2
    view: ViewName = "facts" if args.facts else args.view or "v1"
    paths = list(args.paths)
    if not paths:
        folder, looked = lmstudio_models_folder()
        if not folder.is_dir():
            print("modelscan: no PATH given and LM Studio's models folder was not found; looked at:", file=sys.stderr)
            for place in looked:
                print(f"  {display_path(place)}", file=sys.stderr)
            return 2
        paths = [str(folder)]
    loaded = None
    if args.loaded:
        try:
            with open(args.loaded, "rb") as f:
                loaded = json.loads(f.read())
        except (OSError, ValueError) as exc:
            print(f"modelscan: --loaded {display_path(args.loaded)}: {exc}", file=sys.stderr)
            return 2
    if args.workers is not None and args.workers < 1:
        print("modelscan: --workers must be at least 1", file=sys.stderr)
        return 2
    # The library never starts processes unless asked; the command line asks for every CPU.
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    report = scan_models(*paths, limits=SERVER_LIMITS if args.server_limits else BATCH_LIMITS, workers=workers)
    try:
        out = render(
            view,
            report.models,
            report.problems,
            loaded if view in ("v1", "v0") else None,
            parallel=args.parallel,
            variants=args.variants,
        )
    except UsageError as exc:
        print(f"modelscan: --loaded: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(dumps(out).decode("ascii"))
    sys.stdout.flush()
    for problem in report.problems:
        print(str(problem), file=sys.stderr)
    if args.verbose:
        for warning in report.warnings:
            print(f"{warning} (warning)", file=sys.stderr)
    return 1 if args.strict and report.problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
