"""gguf.GGUFReader as the oracle for modelscan's GGUF header: the one tensor-info comparison."""

from __future__ import annotations

from typing import Any

from modelscan.gguf import GGUFHeader


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
