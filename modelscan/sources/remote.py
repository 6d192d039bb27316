"""Remote files and Hub repos (SOURCES.md section 5): candidates whose files are on a server.

Targets:

- ``https://host/path/model.gguf`` (or ``http://``), ``.../model.safetensors``: one file read by
  URL. A split GGUF shard brings its sibling shards (named ``-NNNNN-of-MMMMM`` the same way); a
  safetensors file brings the sidecars an MLX folder reads (``config.json``, the shard index and
  the shards it names, chat template files, sentence-transformers files), found by ``HEAD``
  beside it, since a plain server cannot list a folder.
- ``hf://<org>/<name>[@<revision>][/<path>]``: a Hub repo (or a folder or file in it). Its files
  come from the Hub's tree listing (``GET <endpoint>/api/models/<org>/<name>/tree/<revision>
  ?recursive=true``, following ``Link: rel="next"`` pages), and are read from
  ``<endpoint>/<org>/<name>/resolve/<revision>/<path>``. The repo's folders are sorted into
  models exactly as a local folder is (``sources.lmstudio.folder_candidates``): GGUF files, split
  shards, projectors and MLX folders, with the walk's junk and partial-download rules.

Naming (SOURCES.md section 5): a repo's files are named as if they sat in ``<org>/<name>/``, so
a folder's publisher is its parent folder's name and its repo folder its own; a URL of the Hub's
``/<org>/<name>/resolve/<revision>/<file>`` shape is named the same way, any other URL by its
host (publisher) and parent folder (repo folder).

Identity: a listing gives every file's size and object id (the ETag the Hub serves it with), so a
rescan whose listing is unchanged reads nothing else. A URL's size and ETag come from a ``HEAD``
when the caller will compare identities (``identify``: a scan with a cache); otherwise the first
``Range`` request learns them, and nothing is asked twice.

The endpoint is ``HF_ENDPOINT`` (default ``https://huggingface.co``); the token ``HF_TOKEN``, else
the one ``huggingface_hub`` stores (through ``huggingface_hub`` when it is installed, else read
from ``HF_TOKEN_PATH`` or ``$HF_HOME/token``). The token goes to the endpoint's host only.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from urllib.parse import quote, unquote, urlsplit

from .. import _rules
from .._http import Target, display_url, fetch_small, iter_pages
from .._hub import hub_endpoint, token_for
from .._json import parse_json
from .._range import probe
from .._walk import is_junk_name, partial_download_name
from ..candidates import Candidate, Entry, GGUFCandidate, MLXCandidate, Origin, RemoteEntry
from ..errors import (
    FileAccessError,
    IncompleteModel,
    InvalidField,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    UsageError,
)
from ..limits import Limits
from .lmstudio import folder_candidates

__all__ = ["HubRef", "candidates", "expand_repo", "list_repo"]

#: Pages of one tree listing followed at most.
MAX_PAGES = 1000

#: Files an MLX folder reads besides its weights, probed beside a ``.safetensors`` URL.
_SIDECARS = (
    "config.json",
    "model.safetensors.index.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "chat_template.json",
    *_rules.SENTENCE_TRANSFORMERS_FILES,
)


@dataclasses.dataclass(frozen=True)
class HubRef:
    """``hf://<org>/<name>[@<revision>][/<path>]``, read."""

    org: str
    name: str
    revision: str | None
    path: str

    @classmethod
    def parse(cls, target: str) -> HubRef:
        """Raises :class:`UsageError` for a target that is not of that shape."""
        rest = target[len("hf://") :]
        parts = rest.split("/")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise UsageError(f"{target!r}: expected hf://<org>/<name>[@<revision>][/<path>]")
        org, name = parts[0], parts[1]
        revision = None
        if "@" in name:
            name, _, revision = name.partition("@")
            revision = unquote(revision)
            if not revision:
                raise UsageError(f"{target!r}: empty revision after '@'")
        if org in ("datasets", "spaces"):
            raise UsageError(f"{target!r}: only model repos are read")
        path = "/".join(p for p in parts[2:] if p)
        for piece in (org, name, *path.split("/")):
            if piece in (".", "..") or any(c in piece for c in "\\\0") or any(ord(c) < 0x20 for c in piece):
                raise UsageError(f"{target!r}: not a repo path")
        return cls(org, name, revision, path)

    @property
    def prefix(self) -> str:
        """``hf://org/name`` (with ``@revision`` when one was given): how files are named."""
        at = f"@{quote(self.revision, safe='')}" if self.revision is not None else ""
        return f"hf://{self.org}/{self.name}{at}"

    def tree_url(self, endpoint: str) -> str:
        rev = quote(self.revision or "main", safe="")
        return f"{endpoint}/api/models/{quote(self.org)}/{quote(self.name)}/tree/{rev}?recursive=true"

    def file_url(self, endpoint: str, path: str) -> str:
        rev = quote(self.revision or "main", safe="")
        return f"{endpoint}/{quote(self.org)}/{quote(self.name)}/resolve/{rev}/{quote(path)}"


# -- listing a repo -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Listed:
    """A folder of a remote listing, shaped as ``folder_candidates`` reads a walk's folder."""

    path: str
    files: tuple[Entry, ...]
    tree: tuple[Entry, ...] | None = None
    cut: str | None = None
    partial: str | None = None
    refused: tuple[tuple[str, FileAccessError], ...] = ()


def _bad_listing(name: str, detail: str) -> FileAccessError:
    return FileAccessError(name, detail, format="http", code="bad_response")


def _listing_items(page: bytes, name: str, limits: Limits) -> list[object]:
    """One page of a tree listing (a JSON array), parsed as strictly as a model's JSON (R8)."""
    stripped = page.strip()
    if not stripped.startswith(b"["):
        raise _bad_listing(name, "the tree listing is not a JSON array")
    doc = parse_json(b'{"items":' + stripped + b"}", source=name, what="tree listing", limits=limits)
    items = doc.get("items")
    assert isinstance(items, list)
    return items


def list_repo(ref: HubRef, limits: Limits, problems: list[ModelScanError]) -> list[RemoteEntry]:
    """Every file of the repo that a walk would list, by path: hidden files,
    OS junk and partial downloads left out (those of model files reported), folders deeper than
    ``limits.walk_depth`` cut (``scan_truncated``). Raises what fetching the listing raises."""
    endpoint = hub_endpoint()
    token = token_for(endpoint)
    where = ref.prefix + (f"/{ref.path}" if ref.path else "")
    target = Target(ref.tree_url(endpoint), where, token)
    entries: list[RemoteEntry] = []
    seen: set[str] = set()
    cut: set[str] = set()
    count = 0
    for page in iter_pages(target, limits.index_json_bytes, "index_json_bytes", limits, max_pages=MAX_PAGES):
        for item in _listing_items(page, where, limits):
            count += 1
            if count > limits.walk_entries_total:
                if "walk_entries_total" not in cut:
                    cut.add("walk_entries_total")
                    problems.append(
                        LimitExceeded(
                            where,
                            f"more than {limits.walk_entries_total} entries in all",
                            format="fs",
                            limit="walk_entries_total",
                            code="scan_truncated",
                        )
                    )
                break
            entry = _entry_of(item, ref, endpoint, where)
            if entry is None or entry.url in seen:
                continue
            parts = entry.path[len(ref.prefix) + 1 :].split("/")
            if any(p.startswith(".") for p in parts) or is_junk_name(parts[-1]):
                continue
            if len(parts) - 1 > limits.walk_depth:
                if "walk_depth" not in cut:
                    cut.add("walk_depth")
                    problems.append(
                        LimitExceeded(
                            where,
                            f"folders nested deeper than {limits.walk_depth}",
                            format="fs",
                            limit="walk_depth",
                            code="scan_truncated",
                        )
                    )
                continue
            if partial_download_name(parts[-1]):
                lower = parts[-1].lower()
                if (".gguf" in lower or ".safetensors" in lower) and not lower.endswith(".json"):
                    problems.append(
                        IncompleteModel(
                            entry.path, "not downloaded (partial download)", format="fs", code="partial_download"
                        )
                    )
                continue
            seen.add(entry.url)
            entries.append(entry)
    entries.sort(key=lambda e: e.path)
    return entries


def _entry_of(item: object, ref: HubRef, endpoint: str, where: str) -> RemoteEntry | None:
    """A file of the listing as an entry; ``None`` for a folder. A malformed item is ``bad_response``."""
    if type(item) is not dict:
        raise _bad_listing(where, "a tree listing item is not an object")
    kind = item.get("type")
    if kind == "directory":
        return None
    path = item.get("path")
    size = item.get("size")
    oid = item.get("oid")
    lfs = item.get("lfs")
    if kind != "file" or type(path) is not str or type(size) is not int or size < 0 or type(oid) is not str:
        raise _bad_listing(where, "a tree listing item lacks type, path, size or oid")
    if type(lfs) is dict:
        lfs_oid, lfs_size = lfs.get("oid"), lfs.get("size")
        if type(lfs_oid) is str and lfs_oid:
            oid = lfs_oid  # the Hub serves an LFS file with its sha256 as the ETag
        if type(lfs_size) is int and lfs_size >= 0:
            size = lfs_size
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or any(c in path for c in "\\\0")
        or len(path) > 4096
    ):
        raise _bad_listing(where, f"a tree listing path is not a plain relative path: {path[:60]!r}")
    return RemoteEntry(
        name=parts[-1],
        path=f"{ref.prefix}/{path}",
        url=ref.file_url(endpoint, path),
        size=size,
        etag=oid[:200],
    )


def _origin(ref: HubRef, rel_folder: str) -> Origin:
    """Named as if the repo sat in ``<org>/<name>/``: publisher the parent folder, repo the folder."""
    names = [ref.org, ref.name, *(p for p in rel_folder.split("/") if p)]
    folder = ref.prefix + (f"/{rel_folder}" if rel_folder else "")
    return Origin("remote", folder, names[-2], names[-1])


def repo_candidates(ref: HubRef, limits: Limits, problems: list[ModelScanError]) -> Iterator[Candidate]:
    """The candidates of a Hub repo (or of a folder or file in it)."""
    where = ref.prefix + (f"/{ref.path}" if ref.path else "")
    try:
        entries = list_repo(ref, limits, problems)
    except ModelScanError as err:
        problems.append(err)
        return
    if not ref.path:
        yield from _candidates_of(ref, entries, problems, None)
    elif any(e.path == where for e in entries):
        # A file: its folder is read, and its model kept (as for a local file given by name).
        named = ref.path.rsplit("/", 1)[-1]
        yield from _candidates_of(dataclasses.replace(ref, path=ref.path.rpartition("/")[0]), entries, problems, named)
    else:
        below = [e for e in entries if e.path.startswith(where + "/")]
        if not below:
            problems.append(
                FileAccessError(where, "no such file or folder in the repo", format="http", code="not_found")
            )
        yield from _candidates_of(ref, below, problems, None)


def _candidates_of(
    ref: HubRef, entries: Sequence[RemoteEntry], problems: list[ModelScanError], named: str | None
) -> Iterator[Candidate]:
    """The candidates of listed *entries*, folder by folder; with *named*, those of the file
    *named* in the folder ``ref.path`` only."""
    prefix_len = len(ref.prefix) + 1
    by_folder: dict[str, list[RemoteEntry]] = {}
    for e in entries:
        by_folder.setdefault(e.path[prefix_len:].rpartition("/")[0], []).append(e)
    if named is not None:
        by_folder = {ref.path: by_folder.get(ref.path, [])}
    for rel_folder in sorted(by_folder):
        files = tuple(sorted(by_folder[rel_folder], key=lambda e: e.name))
        names = [f.name.lower() for f in files]
        tree: tuple[Entry, ...] | None = None
        if "config.json" in names and any(n.endswith(".safetensors") for n in names):
            below = rel_folder + "/" if rel_folder else ""
            tree = tuple(e for e in entries if e.path[prefix_len:].startswith(below))
        origin = _origin(ref, rel_folder)
        found = folder_candidates(_Listed(origin.folder, files, tree), origin, problems)
        yield from found if named is None else _only(found, named)


def _only(found: Iterator[Candidate], named: str) -> Iterator[Candidate]:
    """The candidates of a folder restricted to a file named by the caller: its GGUF model (with
    the folder's projectors), or the folder's MLX model for any other file (as for a local file
    given by name, FIELDS.md section 1)."""
    gguf = named.lower().endswith(".gguf")
    for c in found:
        if isinstance(c, GGUFCandidate):
            if gguf:
                yield c._replace(models=tuple(g for g in c.models if any(f.name == named for f in g)))
        elif not gguf:
            yield c


# -- one URL ------------------------------------------------------------------------------------


def _url_origin(url: str) -> Origin:
    """``/<org>/<name>/resolve/<rev>/<path>`` names as a repo does; any other URL by host and folder."""
    parts = urlsplit(url)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    folder = display_url(url).rsplit("/", 1)[0]
    if len(segments) >= 5 and segments[2] in ("resolve", "blob"):
        names = [segments[0], segments[1], *segments[4:-1]]
        return Origin("remote", folder, names[-2], names[-1])
    host = parts.hostname or ""
    repo = segments[-2] if len(segments) >= 2 else host
    return Origin("remote", folder, host, repo)


def _url_entry(url: str, token: str | None, limits: Limits, identify: bool) -> RemoteEntry | None:
    """The entry of *url*, asking the server for its size and ETag when *identify*; ``None``
    when the server says there is no such file."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    entry = RemoteEntry(name=name, path=display_url(url), url=url)
    if not identify:
        return entry
    found = probe(Target(url, entry.path, token), limits)
    if found is None:
        return None
    # A server that gives no version: a fresh one, so that no later scan takes this result as its own.
    return entry._replace(size=found.size, etag=found.etag or "unversioned " + os.urandom(8).hex())


def _sibling(url: str, name: str) -> str:
    parts = urlsplit(url)
    path = parts.path.rsplit("/", 1)[0] + "/" + quote(name)
    return parts._replace(path=path, query="", fragment="").geturl()


def _not_found(path: str) -> FileAccessError:
    return FileAccessError(path, "no such file on the server (404)", format="http", code="not_found")


def url_candidates(url: str, limits: Limits, problems: list[ModelScanError], identify: bool) -> Iterator[Candidate]:
    """The candidate of one file URL (with its split siblings, or its MLX sidecars)."""
    shown = display_url(url)
    parts = urlsplit(url)
    try:
        valid = bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # a port that is not a number, or out of range
        valid = False
    if not valid:
        raise UsageError(f"{shown!r}: not a valid URL")
    name = unquote(parts.path.rsplit("/", 1)[-1])
    lower = name.lower()
    token = token_for(url)
    origin = _url_origin(url)
    if name.startswith(".") or is_junk_name(name):
        return  # OS litter and hidden files are never listed, as in a folder walk
    if partial_download_name(name):
        problems.append(
            IncompleteModel(shown, "not downloaded (partial download)", format="fs", code="partial_download")
        )
        return
    try:
        if lower.endswith(".gguf"):
            yield from _gguf_url(
                url, name, origin=origin, token=token, limits=limits, problems=problems, identify=identify
            )
        elif lower.endswith(".safetensors"):
            yield from _safetensors_url(url, origin, token, limits, problems)
        else:
            problems.append(NotAModel(shown, "not a .gguf or .safetensors URL", format="http", code="not_a_model"))
    except ModelScanError as err:
        problems.append(err)


def _gguf_url(
    url: str,
    name: str,
    *,
    origin: Origin,
    token: str | None,
    limits: Limits,
    problems: list[ModelScanError],
    identify: bool,
) -> Iterator[Candidate]:
    split = _rules.split_shard_name(name[:-5])
    if split is not None and split[2] > 1 and 1 <= split[1] <= split[2]:
        prefix, _, total = split
        if total > limits.walk_entries_per_dir:
            raise LimitExceeded(
                display_url(url), f"{total} shards", format="fs", limit="walk_entries_per_dir", code="scan_truncated"
            )
        shards: list[Entry] = []
        absent: list[int] = []
        for i in range(1, total + 1):
            shard_url = _sibling(url, f"{prefix}-{i:05d}-of-{total:05d}.gguf") if i != split[1] else url
            found = _url_entry(shard_url, token, limits, identify=True)
            if found is None:
                absent.append(i)
            else:
                shards.append(found)
        if absent:
            shown = ", ".join(str(i) for i in absent[:5]) + (" ..." if len(absent) > 5 else "")
            problems.append(
                IncompleteModel(
                    shards[0].path if shards else display_url(url),
                    f"split model is missing shard(s) {shown} of {total}",
                    format="gguf",
                    code="missing_shard",
                )
            )
            return
        yield GGUFCandidate(origin, (tuple(shards),))
        return
    entry = _url_entry(url, token, limits, identify)
    if entry is None:
        raise _not_found(display_url(url))
    if "mmproj" in name.lower():
        yield GGUFCandidate(origin, (), (entry,))
    else:
        yield GGUFCandidate(origin, ((entry,),))


def _safetensors_url(
    url: str, origin: Origin, token: str | None, limits: Limits, problems: list[ModelScanError]
) -> Iterator[Candidate]:
    """A safetensors URL: the MLX folder around it, as far as ``HEAD`` requests can find it."""
    main = _url_entry(url, token, limits, identify=True)
    if main is None:
        raise _not_found(display_url(url))
    files: dict[str, Entry] = {main.name: main}
    for sidecar in _SIDECARS:
        found = _url_entry(_sibling(url, sidecar), token, limits, identify=True)
        if found is not None:
            files[found.name] = found
    index = files.get("model.safetensors.index.json")
    if isinstance(index, RemoteEntry):
        for shard in _index_shards(index, token, limits):
            if shard not in files:
                found = _url_entry(_sibling(url, shard), token, limits, identify=True)
                if found is not None:
                    files[shard] = found
    ordered = tuple(sorted(files.values(), key=lambda e: e.name))
    tree = ordered if "config.json" in files else None
    yield from folder_candidates(_Listed(origin.folder, ordered, tree), origin, problems)


def _index_shards(index: RemoteEntry, token: str | None, limits: Limits) -> list[str]:
    """The shard names a shard index lists (plain ``.safetensors`` names only); the MLX reader
    reads the index again and judges the rest."""

    data = fetch_small(Target(index.url, index.path, token), limits.index_json_bytes, "index_json_bytes", limits)
    if data is None:
        return []
    try:
        doc = parse_json(data, source=index.path, what="model.safetensors.index.json", limits=limits)
    except (InvalidField, ModelScanError):
        return []
    weight_map = doc.get("weight_map")
    if type(weight_map) is not dict:
        return []
    names = {v for v in weight_map.values() if type(v) is str and not _rules.bad_shard_name(v)}
    return sorted(names)[: limits.walk_entries_per_dir]


# -- the source -----------------------------------------------------------------------------------


def candidates(
    targets: Sequence[str], limits: Limits, problems: list[ModelScanError], *, identify: bool = False
) -> Iterator[Candidate]:
    """The candidates of every remote target; what cannot be one is appended to *problems*.

    Raises :class:`UsageError` for a target that cannot be a URL or a Hub reference.
    """
    for target in targets:
        if target[:5].lower() == "hf://":
            yield from repo_candidates(HubRef.parse(target), limits, problems)
        else:
            yield from url_candidates(target, limits, problems, identify)


def expand_repo(target: str, limits: Limits) -> list[str]:
    """The targets of a repo's models: ``hf://org/name[@rev]/<path>`` of each model's first file
    (a GGUF model's first shard, an MLX folder's ``config.json``). Raises what listing raises."""
    ref = HubRef.parse(target)
    problems: list[ModelScanError] = []
    entries = list_repo(ref, limits, problems)
    out: list[str] = []
    for c in _candidates_of(ref, entries, problems, None):
        if isinstance(c, GGUFCandidate):
            out.extend(g[0].path for g in c.models)
        elif isinstance(c, MLXCandidate):
            config = next((f for f in c.files if f.name == "config.json"), None)
            if config is not None:
                out.append(config.path)
    return out
