"""Golden outputs of the sources (tests/golden/*.json): what modelscan lists for a store written
by the real tool, with paths made relative to the store and random parts named.

``MODELSCAN_UPDATE_GOLDEN=1 pytest ...`` rewrites them; the diff is then reviewed and committed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import modelscan

GOLDEN = Path(__file__).resolve().parent / "golden"


def listing(report: modelscan.ScanReport, root: Path) -> dict[str, object]:
    """The endpoint's answer, each model's source and files, and the problems, relative to *root*."""
    prefix = str(root) + os.sep

    def rel(path: str) -> str:
        text = path[len(prefix) :] if path.startswith(prefix) else path
        return re.sub(r"\.[0-9a-f]{8}\.incomplete$", ".<8 hex>.incomplete", text).replace(os.sep, "/")

    return {
        "models": report.to_response()["models"],
        "facts": sorted(
            (
                {
                    "key": m.key,
                    "source": m.source,
                    "files": [rel(f) for f in m.files],
                    "projector": m.projector and rel(m.projector),
                }
                for m in report.models
            ),
            key=lambda r: str(r["key"]),
        ),
        "problems": [{"path": rel(p.path), "code": p.code, "field": p.field} for p in report.problems],
    }


def check(name: str, value: dict[str, object]) -> None:
    """*value* equals the committed golden file *name* (rewritten when asked)."""
    path = GOLDEN / name
    text = json.dumps(value, indent=2, sort_keys=False) + "\n"
    if os.environ.get("MODELSCAN_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} differs (MODELSCAN_UPDATE_GOLDEN=1 rewrites it)"
