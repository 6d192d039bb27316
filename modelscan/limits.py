"""Configurable limits, with the defaults of HOSTILE.md section 6.

Every count or length read from a file is checked against the bytes that remain first (R1); these
limits are the second line: sanity caps that keep a legitimate-looking but absurd file from
costing seconds or hundreds of megabytes. Each error that hits one names it (``LimitExceeded.limit``
is the attribute name below).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BATCH_LIMITS", "SERVER_LIMITS", "Limits"]

_MiB = 1 << 20


class Limits(NamedTuple):
    """Caps applied while reading untrusted files. All sizes are in bytes.

    Immutable; ``limits.replace(name=value)`` gives a copy with some changed.
    """

    #: GGUF metadata region: key/values plus tensor infos.
    gguf_metadata_bytes: int = 256 * _MiB
    #: GGUF string values longer than this are skipped, not decoded.
    gguf_string_bytes: int = 1 * _MiB
    #: ... except chat templates, which may be this long.
    gguf_chat_template_bytes: int = 4 * _MiB
    #: GGUF string values decoded in all, per file; later ones are skipped (with a warning for a
    #: key asked for by name). CPython keeps a string with one emoji at 4 bytes a character.
    gguf_string_bytes_per_file: int = 6 * _MiB
    #: ... of which for keys not asked for by name (facts read a few, by name), in file order.
    gguf_other_strings_bytes: int = 1 * _MiB
    #: GGUF key length (the spec's limit).
    gguf_key_bytes: int = 65_535
    #: ... and all the keys of one file (real files hold a few KB).
    gguf_key_bytes_per_file: int = 1 * _MiB
    #: GGUF key/value count.
    gguf_n_kv: int = 65_536
    #: GGUF tensor count.
    gguf_n_tensors: int = 1_048_576
    #: Elements kept when an array is decoded on request (arrays are otherwise skipped).
    gguf_array_elements_decoded: int = 65_536
    #: ... and in all the arrays of one file (a decoded element costs about 40 bytes).
    gguf_array_elements_decoded_per_file: int = 262_144
    #: safetensors JSON header length (the reference library's cap).
    safetensors_header_bytes: int = 100_000_000
    #: safetensors tensor count.
    safetensors_tensors: int = 2_000_000
    #: JSON nesting depth.
    json_depth: int = 64
    #: config.json and other small JSON sidecars.
    config_json_bytes: int = 4 * _MiB
    #: tokenizer_config.json, chat_template.json and chat_template.jinja.
    tokenizer_config_bytes: int = 32 * _MiB
    #: model.safetensors.index.json.
    index_json_bytes: int = 64 * _MiB
    #: Folder walk: depth below each root.
    walk_depth: int = 8
    #: Folder walk: entries in one directory.
    walk_entries_per_dir: int = 100_000
    #: Folder walk: entries in all.
    walk_entries_total: int = 1_000_000
    #: Folder walk: wall-clock budget in seconds.
    walk_seconds: float = 60.0
    #: Remote files: body bytes fetched for one file (its header and what the requests bring past it).
    remote_bytes: int = 288 * _MiB
    #: Remote files: wall-clock budget in seconds for all the requests of one file.
    remote_seconds: float = 120.0
    #: Remote files: seconds to wait for a connection or for any bytes of an answer.
    remote_timeout: float = 30.0

    def replace(self, **changes: object) -> Limits:
        """A copy with some limits changed; a name that is not a limit raises ``ValueError``."""
        return self._replace(**changes)  # type: ignore[arg-type]


#: Defaults for the command line and batch scans.
BATCH_LIMITS = Limits()

#: Tighter defaults for servers that scan on every request.
SERVER_LIMITS = Limits(
    gguf_metadata_bytes=64 * _MiB,
    safetensors_header_bytes=25_000_000,
    safetensors_tensors=250_000,
    walk_depth=6,
    walk_entries_per_dir=10_000,
    walk_entries_total=200_000,
    walk_seconds=10.0,
    remote_bytes=72 * _MiB,
    remote_seconds=20.0,
    remote_timeout=10.0,
)
