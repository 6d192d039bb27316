"""Which roots a command scans: the PATHs given, every default location (``--all``), or LM
Studio's models folder when none is given. Shared by ``modelscan``, ``modelscan estimate`` and
``modelscan serve``, so each says the same thing when there is nothing to scan.
"""

from __future__ import annotations

import os
import sys

from .errors import display_path
from .sources import default_locations, default_roots, is_remote
from .sources.lmstudio import lmstudio_models_folder

__all__ = ["command_roots"]


def command_roots(given: list[str], *, all_sources: bool = False, prog: str = "modelscan") -> list[str] | None:
    """The PATHs to scan (with *all_sources*, every default location that exists first; LM
    Studio's models folder when none is given); ``None`` after saying on stderr why there is
    nothing to scan: a mistyped path is the caller's error, not an empty listing."""
    missing = [p for p in given if not is_remote(p) and not os.path.lexists(p)]
    for p in missing:
        print(f"{prog}: {display_path(p)}: no such file or folder", file=sys.stderr)
    if missing:
        return None
    if all_sources:
        found = [str(p) for p in default_roots()]
        if found or given:
            return found + given
        print(f"{prog}: --all: no default location exists; looked at:", file=sys.stderr)
        for source, place in default_locations():
            print(f"  {display_path(place)} ({source})", file=sys.stderr)
        return None
    if given:
        return given
    folder, looked = lmstudio_models_folder()
    if folder.is_dir():
        return [str(folder)]
    print(f"{prog}: no PATH given and LM Studio's models folder was not found; looked at:", file=sys.stderr)
    for place in looked:
        print(f"  {display_path(place)}", file=sys.stderr)
    return None
