"""The Hugging Face Hub's conventions that remote reads follow: its endpoint and its token.

The endpoint is ``HF_ENDPOINT``, else ``huggingface_hub``'s (where it is installed), else the
public Hub. The token is ``HF_TOKEN``, else the one ``huggingface_hub`` stores (read from its
token file when the package is absent); it is sent only to the endpoint's own host.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

__all__ = ["DEFAULT_ENDPOINT", "hub_endpoint", "hub_token", "token_for"]

DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    """``HF_ENDPOINT``, else ``huggingface_hub``'s endpoint where it is installed, else the public Hub."""
    value = os.environ.get("HF_ENDPOINT")
    if not value:
        try:
            from huggingface_hub import constants  # noqa: PLC0415 -- optional, and only for hf:// targets

            value = constants.ENDPOINT
        except ImportError:
            value = DEFAULT_ENDPOINT
    return value.rstrip("/")


def hub_token() -> str | None:
    """``HF_TOKEN``, else the token ``huggingface_hub`` stores (``None`` when there is none)."""
    value = os.environ.get("HF_TOKEN")
    if value is not None:
        return value.strip() or None
    try:
        from huggingface_hub import get_token  # noqa: PLC0415 -- optional

        return get_token()
    except ImportError:
        pass
    path = os.environ.get("HF_TOKEN_PATH")
    if not path:
        home = os.environ.get("HF_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
        )
        path = os.path.join(home, "token")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(4096).strip() or None
    except (OSError, UnicodeDecodeError):
        return None


_TOKENS: dict[tuple[str | None, ...], str | None] = {}


def token_for(url: str) -> str | None:
    """The Hub token for *url*: only for a URL on the endpoint's own host (scheme, host, port).
    Looked up once per process for each setting of the variables that decide it."""
    endpoint = hub_endpoint()
    if not _same_origin(url, endpoint):
        return None
    key = (endpoint, *(os.environ.get(v) for v in ("HF_TOKEN", "HF_TOKEN_PATH", "HF_HOME", "XDG_CACHE_HOME")))
    if key not in _TOKENS:
        if len(_TOKENS) > 16:
            _TOKENS.clear()
        _TOKENS[key] = hub_token()
    return _TOKENS[key]


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    try:
        return (pa.scheme.lower(), pa.hostname, pa.port) == (pb.scheme.lower(), pb.hostname, pb.port)
    except ValueError:
        return False
