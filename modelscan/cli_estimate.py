"""``modelscan estimate PATH ...``: the memory each model needs, as JSON or a table.

Argument parsing and printing only; the numbers are ``estimate.estimate_memory``'s. stdout:
``{"estimates": [...]}`` (2-space indent, ASCII-escaped), or with ``--table`` one row per model
and its notes. stderr: one line per problem, as the listing command prints them. Exit status: 0;
1 when a model could not be estimated (its maximum context is unknown and no ``--context`` was
given); 2 for a usage error or a PATH that does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ._roots import command_roots
from .errors import UsageError, display_path
from .estimate import DEFAULT_BATCH, KV_CACHE_TYPES, estimate_memory
from .limits import BATCH_LIMITS, SERVER_LIMITS
from .response import to_facts_record
from .scan import scan_models
from .shapes import MemoryEstimate
from .text import format_table, human_size

__all__ = ["main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelscan estimate",
        description="Estimate the memory each model needs at a context length: weights, KV cache "
        "(as llama.cpp allocates it) and a rough compute term, from headers only.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a models root, a model folder or one model file")
    p.add_argument(
        "--context",
        type=_positive,
        metavar="N",
        help="context length in tokens (default: each model's maximum)",
    )
    p.add_argument(
        "--kv-type",
        choices=KV_CACHE_TYPES,
        default="f16",
        help="KV cache type (default: f16); q8_0 and q4_0 imply flash attention",
    )
    p.add_argument(
        "--flash-attention",
        action="store_true",
        help="pad the cache to 256 cells as llama.cpp does with flash attention (default: 32, without)",
    )
    p.add_argument(
        "--batch",
        type=_positive,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"tokens per batch, for the sliding-window cache and compute buffers (default: {DEFAULT_BATCH})",
    )
    p.add_argument("--table", action="store_true", help="print a table for people instead of JSON")
    p.add_argument(
        "--server-limits",
        action="store_true",
        help="use the tighter limits meant for servers instead of the batch defaults",
    )
    return p


def _size(n: int) -> str:
    """Bytes for people: MiB below a GiB, else GiB (binary units, as memory is counted)."""
    if n >= 1 << 30:
        return human_size(n, binary=True)
    return f"{n / (1 << 20):.1f} MiB"


def _table(estimates: Sequence[MemoryEstimate]) -> str:
    head = ("model", "context", "kv", "weights", "kv cache", "compute", "total", "confidence")
    rows = [
        (
            e["key"],
            str(e["context_length"]),
            e["kv_cache_type"],
            _size(e["weights_bytes"]),
            _size(e["kv_cache_bytes"]),
            _size(e["compute_bytes"]),
            _size(e["totalBytes"]),
            e["confidence"],
        )
        for e in estimates
    ]
    header, *lines = format_table(head, rows, right={1, 3, 4, 5, 6})
    out = [header]
    for line, e in zip(lines, estimates, strict=True):
        out.append(line)
        out.extend(f"  note: {note}" for note in e["notes"])
    return "\n".join(out)


def main(argv: Sequence[str]) -> int:
    """Run ``modelscan estimate``; returns the exit status."""
    args = _parser().parse_args(argv)
    paths = command_roots(list(args.paths))
    if paths is None:  # a PATH that does not exist: said on stderr
        return 2
    report = scan_models(
        *paths,
        limits=SERVER_LIMITS if args.server_limits else BATCH_LIMITS,
        workers=os.cpu_count() or 1,
    )
    estimates: list[MemoryEstimate] = []
    failed = False
    for model in report.models:
        try:
            estimates.append(
                estimate_memory(
                    to_facts_record(model),
                    context_length=args.context,
                    kv_cache_type=args.kv_type,
                    flash_attention=args.flash_attention,
                    batch_size=args.batch,
                )
            )
        except UsageError as exc:
            print(f"{display_path(model.path)}: {exc}", file=sys.stderr)
            failed = True
    if args.table:
        sys.stdout.write(_table(estimates) + "\n")
    else:
        sys.stdout.write(json.dumps({"estimates": estimates}, indent=2) + "\n")
    sys.stdout.flush()
    for problem in report.problems:
        print(str(problem), file=sys.stderr)
    return 1 if failed else 0
