"""The ``modelscan`` command: argument parsing and printing only.

stdout: the endpoint's ``{"models": [...]}`` JSON, or another view with ``--view`` (2-space
indent, ASCII-escaped so that any file name stays valid JSON). stderr: one line per problem,
``path: reason``, control characters and undecodable bytes escaped. Exit status: 0; 1 with
``--strict`` when there was a problem; 2 for a usage error, or when no PATH is given and LM
Studio's models folder does not exist.

Subcommands are dispatched on the first argument (``SUBCOMMANDS``): ``modelscan estimate ...``
and ``modelscan serve ...``. Anything else is a PATH (``./serve`` names a folder called ``serve``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from . import __version__
from ._roots import command_roots
from .cache import ScanCache
from .errors import ModelScanError, UsageError, display_path
from .limits import BATCH_LIMITS, SERVER_LIMITS, Limits
from .response import sort_models
from .runs import Replay
from .scan import iter_scan, reusable, scan_models
from .views import VIEW_NAMES, ViewName, dumps, render

if TYPE_CHECKING:
    from ._progress import ProgressLine
    from .runs import Run

__all__ = ["main"]

_EPILOG = """\
a PATH is read under the rules of the layout found in it: LM Studio's models folder (and any
plain folder), a Hugging Face hub cache or one models--<org>--<name> repo, llama.cpp's cache,
an Ollama store or one Ollama manifest file.

commands:
  modelscan estimate PATH ...  memory estimates (modelscan estimate --help)
  modelscan serve [PATH ...]   serve the views over HTTP (modelscan serve --help)

exit status: 0 on success (problems are reported on stderr but do not fail the run);
1 with --strict when any problem was found; 2 on a usage error (a PATH that does not
exist, a bad option) or when no PATH is given and LM Studio's models folder does not
exist, or with --all when no default location exists; 130 when interrupted (Ctrl-C).
"""


def _columns() -> int:
    """The terminal's width for help text, as ``shutil.get_terminal_size`` finds it (``COLUMNS``,
    else the terminal, else 80), without importing ``shutil``, which the plain path never needs."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (AttributeError, ValueError, OSError):
        return 80


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter with the width given: argparse builds one for every option it adds,
    and without a width each would import ``shutil`` to ask the terminal."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelscan",
        description="List GGUF and MLX models exactly as LM Studio's GET /api/v1/models does, "
        "reading headers only (over HTTP Range requests for remote files). 'modelscan estimate PATH' "
        "estimates the memory they need (see 'modelscan estimate --help').",
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="a models root, a publisher folder, a model folder or one model file; a Hugging Face hub cache or "
        "repo folder; llama.cpp's cache; an Ollama store or manifest; a remote file "
        "(https://host/path/model.gguf or .safetensors) or Hub repo (hf://org/name[@revision][/path]) "
        "(default: LM Studio's models folder)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="scan every default location that exists (LM Studio, the Hugging Face hub cache, llama.cpp's "
        "cache, Ollama's store), each under its own rules, in one report; PATHs are scanned too",
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
        "shards, architecture numbers, warnings) instead of the endpoint JSON; same as --view facts",
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
    p.add_argument(
        "--table",
        action="store_true",
        help="print a table for people instead of JSON (what lms ls shows: key, parameters, architecture, "
        "size, quantization, context, vision and tool use; LLMs, then embedding models)",
    )
    p.add_argument(
        "--jsonl",
        action="store_true",
        help='stream one facts record per line as each model is read (a problem as {"problem": {...}}), '
        "flushed, in a stable order; keys as each model's own folder gives them",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also print warnings of listed models on stderr")
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print no progress line and no problem lines on stderr (the exit status still counts problems)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the on-disk cache of parsed headers and of the last outputs "
        "($XDG_CACHE_HOME/modelscan, else ~/.cache/modelscan)",
    )
    p.add_argument(
        "--clear-cache",
        action="store_true",
        help="delete the on-disk cache (headers and kept outputs) first (alone: delete it and exit)",
    )
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


def _estimate(argv: Sequence[str]) -> int:
    from .cli_estimate import main as estimate  # noqa: PLC0415 -- loaded only when asked for

    return estimate(argv)


def _serve(argv: Sequence[str]) -> int:
    from .serve import main as serve  # noqa: PLC0415 -- loaded only when asked for (it needs uvicorn)

    return serve(argv)


#: Subcommands by their first argument, each run with the arguments after it. Any other first
#: argument is the listing command's (``modelscan PATH ...``): a folder named like a subcommand
#: is given as ``./estimate``.
SUBCOMMANDS: Mapping[str, Callable[[Sequence[str]], int]] = {"estimate": _estimate, "serve": _serve}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (130 after Ctrl-C, with one line)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("modelscan: interrupted", file=sys.stderr)
        return 130


def _load_cache() -> ScanCache:
    """The on-disk cache (an empty one where there is none, or it cannot be used)."""
    from . import store  # noqa: PLC0415

    cache = ScanCache(whole_reports=False)  # one scan per process: the kept outputs (runs.py) do that job
    store.load(cache, store.default_cache_file())
    return cache


def _save_cache(cache: ScanCache) -> None:
    """Write the cache back; a cache that cannot be written is one line on stderr, not a failure."""
    from . import store  # noqa: PLC0415

    path = store.default_cache_file()
    try:
        store.save(cache, path)
    except OSError as exc:
        print(f"modelscan: cache not saved to {display_path(path)}: {exc.strerror or exc}", file=sys.stderr)


def _clear_cache() -> None:
    from . import runs, store  # noqa: PLC0415

    path = store.default_cache_file()
    failed = False
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        print(f"modelscan: cannot delete {display_path(path)}: {exc.strerror}", file=sys.stderr)
        failed = True
    try:
        runs.clear(store.default_cache_dir())
    except OSError as exc:
        where = exc.filename if exc.filename is not None else store.default_cache_dir()
        print(f"modelscan: cannot delete {display_path(where)}: {exc.strerror}", file=sys.stderr)
        failed = True
    if not failed:
        print(f"modelscan: cleared the cache ({display_path(path)})", file=sys.stderr)


def _read_loaded(path: str | None) -> object:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--loaded {display_path(path)}: {exc}") from exc


def _progress(quiet: bool) -> ProgressLine | None:
    """A progress line on stderr when it is a terminal (and the caller did not ask for quiet)."""
    if quiet or not sys.stderr.isatty():
        return None
    from ._progress import ProgressLine  # noqa: PLC0415 -- only a terminal pays for it

    return ProgressLine(sys.stderr)


def _stream_jsonl(paths: list[str], limits: Limits, workers: int, cache: ScanCache | None, quiet: bool) -> bool:
    """``--jsonl``: each facts record (or problem) on its own line as it is read; whether there was a problem."""
    from .response import to_facts_record  # noqa: PLC0415

    progress = _progress(quiet)
    any_problem = False
    try:
        for item in iter_scan(*paths, limits=limits, workers=workers, cache=cache, progress=progress):
            if isinstance(item, ModelScanError):
                any_problem = True
                line = json.dumps({"problem": item.to_dict()}, ensure_ascii=True)
            else:
                line = json.dumps(to_facts_record(item), ensure_ascii=True)
            if progress is not None:
                progress.close()
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            if isinstance(item, ModelScanError) and not quiet:
                print(str(item), file=sys.stderr)
    finally:
        if progress is not None:
            progress.close()
    return any_problem


def _one_output(args: argparse.Namespace) -> ViewName:
    """The view asked for; a :class:`UsageError` when two outputs are asked for."""
    if args.facts and args.view not in (None, "facts"):
        raise UsageError(f"--facts and --view {args.view} ask for two views; give one")
    asked = [("--view", args.view or args.facts), ("--table", args.table), ("--jsonl", args.jsonl)]
    outputs = [name for name, given in asked if given]
    if len(outputs) > 1:
        raise UsageError(f"{' and '.join(outputs)} ask for two outputs; give one")
    view: ViewName = "facts" if args.facts else args.view or "v1"
    return view


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = _parser().parse_args(argv)
    try:
        view = _one_output(args)
    except UsageError as exc:
        print(f"modelscan: {exc}", file=sys.stderr)
        return 2
    if args.clear_cache:
        _clear_cache()
    paths = None if args.clear_cache and not args.paths else command_roots(list(args.paths), all_sources=args.all)
    if paths is None:
        return 0 if args.clear_cache and not args.paths else 2
    return _listing(args, view, paths)


def _listing(args: argparse.Namespace, view: ViewName, paths: list[str]) -> int:
    """List *paths* as *args* ask: a kept output of the same command on the same tree, else a scan."""
    try:
        loaded = _read_loaded(args.loaded)
        if args.workers is not None and args.workers < 1:
            raise UsageError("--workers must be at least 1")
        # The library never starts processes unless asked; the command line asks for every CPU.
        workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
        limits = SERVER_LIMITS if args.server_limits else BATCH_LIMITS
        run = None
        if not (args.no_cache or args.jsonl):
            run = _start_run(paths, limits, (view, args.table, loaded, args.parallel, args.variants))
            replay = run.stored() if run is not None else None
            if replay is not None:
                return _replay(replay, args)
        cache = None if args.no_cache else _load_cache()
        if args.jsonl:
            any_problem = _stream_jsonl(paths, limits, workers, cache, args.quiet)
            if cache is not None and cache.changed:
                _save_cache(cache)
            return 1 if args.strict and any_problem else 0
        progress = _progress(args.quiet)
        try:
            report = scan_models(*paths, limits=limits, workers=workers, cache=cache, progress=progress)
        finally:
            if progress is not None:
                progress.close()
        if cache is not None and cache.changed:
            _save_cache(cache)
        if args.table:
            from .text import models_table  # noqa: PLC0415 -- only --table needs it

            text = models_table(sort_models(report.models))
        else:
            try:
                out = render(
                    view,
                    report.models,
                    report.problems,
                    loaded if view in ("v1", "v0") else None,  # type: ignore[arg-type]
                    parallel=args.parallel,
                    variants=args.variants,
                )
            except UsageError as exc:
                raise UsageError(f"--loaded: {exc}") from exc
            text = dumps(out).decode("ascii")
    except UsageError as exc:
        print(f"modelscan: {exc}", file=sys.stderr)
        return 2
    replay = Replay(
        text,
        tuple(str(p) for p in report.problems),
        tuple(f"{w} (warning)" for w in report.warnings),
    )
    if run is not None and reusable(paths, report.problems):
        _save_run(run, replay)
    return _replay(replay, args)


def _start_run(paths: list[str], limits: Limits, options: object) -> Run | None:
    from . import runs, store  # noqa: PLC0415

    return runs.start(store.default_cache_dir(), paths, limits, options)


def _save_run(run: Run, replay: Replay) -> None:
    try:
        run.save(*replay)
    except OSError as exc:
        print(f"modelscan: output not kept in {display_path(run.folder)}: {exc.strerror or exc}", file=sys.stderr)


def _replay(replay: Replay, args: argparse.Namespace) -> int:
    """Print a run's output and its lines as the options ask; the exit status."""
    sys.stdout.write(replay.stdout)
    sys.stdout.flush()
    if not args.quiet:
        for line in replay.problems:
            print(line, file=sys.stderr)
    if args.verbose:
        for line in replay.warnings:
            print(line, file=sys.stderr)
    return 1 if args.strict and replay.problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
