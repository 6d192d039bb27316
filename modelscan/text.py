"""Text for people: sizes in human units, aligned tables, and the table of ``modelscan --table``.

Everything a file supplied (keys, names, architectures) is escaped with
:func:`~modelscan.errors.escape_text` before it reaches a terminal (HOSTILE.md R10).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from .errors import escape_text
from .facts import ModelFacts

__all__ = ["format_table", "human_size", "models_table"]


def human_size(n: int | None, *, binary: bool = False) -> str:
    """Bytes for people: ``4.92 GB`` (decimal units, as ``lms ls`` prints them), or with *binary*
    ``4.58 GiB``. Below a kilobyte, plain bytes."""
    if n is None:
        return "-"
    step = 1024 if binary else 1000
    units = ("KiB", "MiB", "GiB", "TiB") if binary else ("KB", "MB", "GB", "TB")
    if n < step:
        return f"{n} B"
    value = float(n)
    for unit in units:
        value /= step
        if value < step or unit == units[-1]:
            return f"{value:.2f} {unit}"
    raise AssertionError("unreachable")


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """*rows* under *head*, columns two spaces apart; columns in *right* aligned right."""
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = []
    for row in (head, *rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return lines


def _capabilities(m: ModelFacts) -> str:
    marks = [name for name, on in (("vision", m.vision), ("tools", m.trained_for_tool_use)) if on]
    return ", ".join(marks)


def models_table(models: Sequence[ModelFacts]) -> str:
    """What ``lms ls`` shows, for people: LLMs, then embedding models, one row each (key,
    parameters, architecture, size, quantization, context length, vision and tool use)."""
    total = sum(m.size_bytes for m in models)
    noun = "model" if len(models) == 1 else "models"
    out = [f"You have {len(models)} {noun}, taking up {human_size(total)} of disk space."]
    for kind, title in (("llm", "LLM"), ("embedding", "EMBEDDING")):
        group = [m for m in models if m.type == kind]
        if not group:
            continue
        head = [title, "PARAMS", "ARCH", "SIZE", "QUANT", "CONTEXT"] + (["CAPABILITIES"] if kind == "llm" else [])
        rows = []
        for m in group:
            row = [
                escape_text(m.key),
                escape_text(m.params_string or "-"),
                escape_text(m.architecture or "-"),
                human_size(m.size_bytes),
                escape_text(m.quant_name or "-"),
                "-" if m.max_context_length is None else str(m.max_context_length),
            ]
            if kind == "llm":
                row.append(_capabilities(m))
            rows.append(row)
        out += ["", *format_table(head, rows, right={3, 5})]
    return "\n".join(out) + "\n"
