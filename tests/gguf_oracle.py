"""gguf.GGUFReader as the oracle for modelscan's GGUF header: the one tensor-info comparison, and
the tensor statistics computed independently from a list of tensors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelscan.gguf import GGUFHeader, GGUFTensorStats


def assert_same_tensors(ours: GGUFHeader, reader: Any) -> None:
    """Every tensor info agrees with ``gguf.GGUFReader``'s: name, shape, type, place, size."""
    assert ours.data_offset == reader.data_offset
    assert len(ours.tensors) == len(reader.tensors)
    for mine, theirs in zip(ours.tensors, reader.tensors, strict=True):
        assert mine.name == theirs.name
        assert mine.shape == tuple(int(d) for d in theirs.shape)
        assert mine.ggml_type == int(theirs.tensor_type)
        assert ours.data_offset + mine.offset == theirs.data_offset
        assert mine.n_elements == theirs.n_elements
        assert mine.n_bytes == theirs.n_bytes
    assert ours.tensor_stats == stats_of(
        (t.name, tuple(int(d) for d in t.shape), int(t.tensor_type), int(t.n_elements), int(t.n_bytes))
        for t in reader.tensors
    )


def stats_of(tensors: Iterable[tuple[str, tuple[int, ...], int, int, int | None]]) -> GGUFTensorStats:
    """What :class:`GGUFTensorStats` must hold for ``(name, shape, type, elements, bytes)`` rows,
    written out plainly (a tensor list in hand, no streaming)."""
    rows = list(tensors)
    by_type: dict[int, tuple[int, int, int | None]] = {}
    for ggml_type in sorted({r[2] for r in rows}):
        mine = [r for r in rows if r[2] == ggml_type]
        sizes = [r[4] for r in mine]
        total = None if any(b is None for b in sizes) else sum(b for b in sizes if b is not None)
        by_type[ggml_type] = (len(mine), sum(r[3] for r in mine), total)
    matrix: dict[int, int] = {}
    for _, shape, ggml_type, _, n_bytes in rows:
        if len(shape) >= 2 and n_bytes is not None:
            matrix[ggml_type] = matrix.get(ggml_type, 0) + n_bytes
    experts = sum(r[3] for r in rows if "_exps." in r[0] or r[0].endswith("_exps"))
    return GGUFTensorStats(len(rows), sum(r[3] for r in rows), experts, by_type, matrix)


def stats_of_header(h: GGUFHeader) -> GGUFTensorStats:
    """:func:`stats_of` the tensor infos a header kept."""
    return stats_of((t.name, t.shape, t.ggml_type, t.n_elements, t.n_bytes) for t in h.tensors)
