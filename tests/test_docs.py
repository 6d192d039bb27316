"""docs/ against the code: the parts of the pages that go stale without anyone noticing.

Each test reads a page as text and compares one of its tables (or code blocks, or links) with
what the package really has or does: the command-line parser, ``Limits`` and its two default
sets, the error classes and every error code raised anywhere in ``modelscan/``, the hostile
catalogue the tests run, the endpoint example and the fixture listing as modelscan prints them.
"""

from __future__ import annotations

import ast
import collections
import json
import re
import typing
from pathlib import Path

import pytest
from hostile_catalogue import ENTRIES, Entry

import modelscan
import modelscan.errors
from fixtures.make_fixtures import write_spec_example
from modelscan import BATCH_LIMITS, SERVER_LIMITS, Limits
from modelscan.cli import SUBCOMMANDS, _parser, main
from modelscan.cli_estimate import _parser as _estimate_parser
from modelscan.errors import ErrorCode
from modelscan.serve import _parser as _serve_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _cells(line: str) -> list[str]:
    """The cells of one markdown table row (``\\|`` inside a cell is not a separator)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _rows(text: str, first_cell: str) -> dict[str, list[str]]:
    """Table rows whose first cell is a backticked name matching *first_cell*, by that name.

    A name given twice fails: each row must be the one place its name is described.
    """
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = _cells(line)
        m = re.fullmatch(rf"`({first_cell})`", cells[0])
        if m is None:
            continue
        assert m[1] not in rows, f"{m[1]} has two rows"
        rows[m[1]] = cells
    return rows


def _section(text: str, heading: str) -> str:
    """The text under *heading* (a whole heading line), up to the next heading of its level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next(
        (i for i in range(start, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])),
        len(lines),
    )
    return "\n".join(lines[start:end])


# --- cli.md -----------------------------------------------------------------------------------


def test_every_parser_option_is_in_cli_md() -> None:
    text = _page("cli.md")
    options = _section(text, "## Options")
    actions = _parser()._actions
    names = [s for a in actions for s in a.option_strings] + [a.metavar for a in actions if not a.option_strings]
    assert "--strict" in names and "PATH" in names  # the parser is what this test thinks it is
    for name in names:
        assert isinstance(name, str)
        assert re.search(rf"`{re.escape(name)}[` ]", options), f"{name} is not in docs/cli.md's options"


def test_cli_md_options_all_exist() -> None:
    options = _section(_page("cli.md"), "## Options")
    known = {s for a in _parser()._actions for s in a.option_strings} | {"PATH"}
    documented = re.findall(r"`(-[-\w]+|PATH)\b", options)
    assert documented
    assert set(documented) <= known, set(documented) - known


#: Each subcommand's parser and the heading of its options table in cli.md.
SUBCOMMAND_PARSERS = {
    "estimate": (_estimate_parser, "### Estimate options"),
    "serve": (_serve_parser, "### Serve options"),
}


def test_every_subcommand_has_its_options_table() -> None:
    assert set(SUBCOMMAND_PARSERS) == set(SUBCOMMANDS)


@pytest.mark.parametrize("name", sorted(SUBCOMMAND_PARSERS))
def test_every_subcommand_option_is_in_cli_md_and_back(name: str) -> None:
    make_parser, heading = SUBCOMMAND_PARSERS[name]
    options = _section(_page("cli.md"), heading)
    actions = make_parser()._actions
    names = {s for a in actions for s in a.option_strings} | {a.metavar for a in actions if not a.option_strings}
    assert "PATH" in names and "--help" in names
    for option in names:
        assert isinstance(option, str)
        assert re.search(rf"`{re.escape(option)}[` ]", options), f"{name}: {option} is not in docs/cli.md's options"
    documented = set(re.findall(r"`(-[-\w]+|PATH)\b", options))
    assert documented and documented <= names, documented - names


def _fixture_table() -> list[list[str]]:
    section = _section(_page("cli.md"), "### List the fixtures")
    return [_cells(line) for line in section.splitlines() if re.match(r"\| (llm|embedding) \|", line)]


def test_fixture_listing_in_cli_md_is_a_real_scan(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["fixtures/models"]) == 0
    out, err = capsys.readouterr()
    models = json.loads(out)["models"]

    def shown(value: object) -> str:
        return "null" if value is None else str(value)

    real = [
        [
            m["type"],
            m["publisher"],
            f"`{m['key']}`",
            f"{m['quantization']['name']}, {m['quantization']['bits_per_weight']}",
            shown(m["size_bytes"]),
            shown(m["params_string"]),
            shown(m["max_context_length"]),
        ]
        for m in models
    ]
    assert _fixture_table() == real
    section = _section(_page("cli.md"), "### List the fixtures")
    problems = err.splitlines()
    assert len(problems) == 3
    for line in problems:
        assert line in section.splitlines(), f"stderr line not in docs/cli.md: {line}"


# --- hostile.md: limits, errors, codes, catalogue -------------------------------------------------


def _number(cell: str) -> float:
    m = re.match(r"[\d,]+(?:\.\d+)?", cell)
    assert m is not None, f"no number in {cell!r}"
    return float(m[0].replace(",", ""))


def test_every_limit_has_its_row_with_the_real_defaults() -> None:
    rows = _rows(_section(_page("hostile.md"), "## Limits"), r"[a-z0-9_]+")
    fields = list(Limits._fields)
    assert set(rows) == set(fields), set(rows) ^ set(fields)
    for name in fields:
        _, _what, batch, server = rows[name]
        assert _number(batch) == getattr(BATCH_LIMITS, name), (name, batch)
        assert _number(server) == getattr(SERVER_LIMITS, name), (name, server)


def _error_classes() -> list[type[Exception]]:
    members = vars(modelscan.errors).values()
    classes = [c for c in members if isinstance(c, type) and issubclass(c, modelscan.ModelScanError)]
    return [*classes, modelscan.UsageError]


def test_every_error_class_is_in_hostile_md_with_its_default_code() -> None:
    rows = _rows(_section(_page("hostile.md"), "### The classes"), r"[A-Za-z]+")
    classes = _error_classes()
    assert len(classes) >= 12
    assert set(rows) == {c.__name__ for c in classes}, set(rows) ^ {c.__name__ for c in classes}
    for cls in classes:
        code = getattr(cls, "code", None)
        assert rows[cls.__name__][1] == (f"`{code}`" if code else "—"), cls.__name__


def _raised_codes() -> dict[str, set[str]]:
    """Every error code written in modelscan/: ``code=`` arguments, ``code`` assignments and
    class attributes, and the code argument of the small helpers that take it last."""
    codes: dict[str, set[str]] = collections.defaultdict(set)

    def strings(node: ast.AST) -> list[str]:
        return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]

    for path in sorted((ROOT / "modelscan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found: list[str] = []
            if isinstance(node, ast.Call):
                found += [s for kw in node.keywords if kw.arg == "code" for s in strings(kw.value)]
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("_fs_error", "warn") and len(node.args) == 3:
                    found += strings(node.args[2])
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "code" for t in targets):
                    found += strings(node.value)
            for code in found:
                if re.fullmatch(r"[a-z][a-z0-9_]*", code):
                    codes[code].add(path.name)
    return codes


def test_every_error_code_is_in_hostile_md_with_its_meaning() -> None:
    rows = _rows(_section(_page("hostile.md"), "### Every code"), r"[a-z0-9_]+")
    assert set(rows) == set(modelscan.ERROR_CODES), set(rows) ^ set(modelscan.ERROR_CODES)
    for code, meaning in modelscan.ERROR_CODES.items():
        assert rows[code][1] == meaning, code


def test_every_code_written_in_modelscan_is_registered() -> None:
    codes = _raised_codes()
    assert {"lfs_pointer", "outside_root", "bad_quantization", "error"} <= set(codes)  # the scan finds them
    unknown = {c: sorted(files) for c, files in codes.items() if c not in modelscan.ERROR_CODES}
    assert not unknown, f"codes written in modelscan/ but not in modelscan.ERROR_CODES: {unknown}"
    assert set(typing.get_args(ErrorCode)) == set(modelscan.ERROR_CODES)


_ID = r"[GSCFPT]-\d+[a-z]?(?:-[^`|]+)?"


def _catalogue_rows() -> dict[str, list[str]]:
    return _rows(_section(_page("hostile.md"), "## The catalogue"), _ID)


def _expected_error(entry: Entry) -> str:
    if entry.code is None and entry.cls is None:
        return "—"
    code = f"`{entry.code}`" if entry.code else "any code"
    return code + (f" ({entry.cls.__name__})" if entry.cls else "")


def _expected_where(entry: Entry) -> str:
    parts = ([f"`{entry.field}`"] if entry.field else []) + ([f"limit `{entry.limit}`"] if entry.limit else [])
    return ", ".join(parts) or "—"


def _parse_scan(cell: str) -> tuple[int, collections.Counter[str], set[str]]:
    """A scan cell, such as "1 model; problems `a` (times sign) 2, `b`; warning `c`", read as
    ``(1, Counter({a: 2, b: 1}), {c})``."""
    parts = [p.strip() for p in cell.split(";")]
    m = re.fullmatch(r"(\d+) models?", parts[0])
    assert m is not None, cell
    problems: collections.Counter[str] = collections.Counter()
    warnings: set[str] = set()
    for part in parts[1:]:
        kind, _, rest = part.partition(" ")
        items = re.findall(r"`([a-z0-9_]+)`(?: \u00d7(\d+))?", rest)  # \u00d7: the times sign
        assert items, cell
        if kind in ("problem", "problems"):
            for code, times in items:
                problems[code] += int(times or 1)
        elif kind in ("warning", "warnings"):
            warnings.update(code for code, _ in items)
        else:
            raise AssertionError(f"cannot read {part!r} in {cell!r}")
    return int(m[1]), problems, warnings


def test_catalogue_tables_match_the_catalogue_the_tests_run() -> None:
    rows = _catalogue_rows()
    ids = [e.id for e in ENTRIES]
    assert set(rows) == set(ids), f"missing: {set(ids) - set(rows)}; unknown: {set(rows) - set(ids)}"
    for entry in ENTRIES:
        _, what, outcome, error, where, scan = rows[entry.id]
        assert what, entry.id
        assert outcome == entry.outcome, entry.id
        assert error == _expected_error(entry), entry.id
        assert where == _expected_where(entry), entry.id
        models, problems, warnings = _parse_scan(scan)
        assert models == entry.scan.models, entry.id
        assert problems == collections.Counter(code for _, code in entry.scan.problems), entry.id
        assert warnings == set(entry.scan.warnings), entry.id


# --- fields.md ----------------------------------------------------------------------------------

LOADED = {
    "gemma-3-270m-it-qat": [
        {
            "config": {
                "context_length": 4096,
                "eval_batch_size": 512,
                "flash_attention": False,
                "num_experts": 0,
                "offload_kv_cache_to_gpu": True,
            }
        }
    ]
}


def test_endpoint_example_in_fields_md_is_what_modelscan_prints(tmp_path: Path) -> None:
    section = _section(_page("fields.md"), "### The endpoint's example")
    blocks = re.findall(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert len(blocks) == 1
    write_spec_example(tmp_path / "models")
    assert json.dumps(modelscan.list_models(tmp_path / "models", loaded=LOADED), indent=2) == blocks[0]


# --- links ----------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    seen: collections.Counter[str] = collections.Counter()
    anchors = set()
    for line in _without_code(text).splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if m:
            slug = _slug(m[1])
            anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
    return anchors


def _without_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


PAGES = sorted(p.name for p in DOCS.glob("*.md"))


def test_the_docs_pages_are_there() -> None:
    assert {"README.md", "fields.md", "hostile.md", "cli.md"} <= set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_lead_to_files_and_headings(page: str) -> None:
    text = _page(page)
    links = re.findall(r"\]\(([^)\s]+)\)", _without_code(text))
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue  # http:, https:, mailto: are not ours to check
        target, _, anchor = link.partition("#")
        path = (DOCS / target) if target else DOCS / page
        assert path.exists(), f"{page}: link to {link}: no such file"
        if anchor:
            assert path.suffix == ".md", f"{page}: anchor into a file that is not markdown: {link}"
            assert anchor in _anchors(path.read_text(encoding="utf-8")), f"{page}: link to {link}: no such heading"
