"""Naming rules and field tables of FIELDS.md (sections 2-6), as pure functions over strings.

Nothing here touches the filesystem or a header: names in, names out, so each rule is tested
against the rulebook's own examples.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import cast

__all__ = [
    "EMBEDDING_ARCHITECTURES",
    "ENCODER_MODEL_TYPES",
    "SENTENCE_TRANSFORMERS_FILES",
    "LazyPattern",
    "bad_shard_name",
    "display_name",
    "gguf_key_base",
    "go_template_uses_tools",
    "lazy_pattern",
    "mentions_tools",
    "mlx_key_base",
    "nominal_bits",
    "quant_token",
    "rounded_count",
    "size_token",
    "split_shard_name",
]


class LazyPattern:
    """A regular expression compiled when first used, so that importing a module that holds
    patterns costs nothing for a run that never matches them (a repeat scan served from the
    cache). After the first use its methods are the compiled pattern's own."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags

    def __getattr__(self, name: str) -> object:  # only for what the instance does not hold yet
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            compiled = self.__dict__["_compiled"] = re.compile(self.pattern, self.flags)
            for method in ("match", "fullmatch", "search", "sub", "subn", "split", "finditer", "findall"):
                self.__dict__[method] = getattr(compiled, method)
        return getattr(compiled, name)


def lazy_pattern(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A :class:`LazyPattern`, typed as the pattern it stands for."""
    return cast("re.Pattern[str]", LazyPattern(pattern, flags))


# FIELDS.md section 2: GGUF architectures LM Studio lists as embedding models.
EMBEDDING_ARCHITECTURES = frozenset(
    {
        "bert",
        "nomic-bert",
        "nomic-bert-moe",
        "jina-bert-v2",
        "jina-bert-v3",
        "neo-bert",
        "modern-bert",
        "gemma-embedding",
        "t5encoder",
    }
)

# FIELDS.md section 2: MLX `model_type`s of encoder-only models (embedding models).
ENCODER_MODEL_TYPES = frozenset(
    {
        "bert",
        "roberta",
        "xlm-roberta",
        "xlm_roberta",
        "nomic_bert",
        "modernbert",
        "distilbert",
        "mpnet",
        "electra",
        "camembert",
        "deberta",
        "deberta-v2",
        "albert",
        "new",  # gte-*-v1.5 ("NewModel")
    }
)

# FIELDS.md section 2: files whose presence marks a sentence-transformers (embedding) folder.
SENTENCE_TRANSFORMERS_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json")

# FIELDS.md section 5: one token of a name that is a quantization.
_QUANT_TOKEN = lazy_pattern(
    r"I?Q\d+(?:_[0-9A-Z]+)*|TQ\d_\d|F16|F32|BF16|FP16|FP32|MXFP4(?:_MOE)?|NVFP4|\d+BIT",
    re.IGNORECASE,
)
# FIELDS.md section 3: the trailing bits/dtype token of an MLX folder name.
_MLX_BITS_TOKEN = lazy_pattern(r"\d+bit|bf16|fp16|f16|fp32|f32|mxfp4|mxfp8|nvfp4", re.IGNORECASE)
_SHARD = lazy_pattern(r"^(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})$")
# FIELDS.md section 6: a size token, optionally followed by an active-parameter token.
_SIZE_TOKEN = lazy_pattern(r"(?:(\d+)x)?(\d+)(?:[._](\d+))?([KMBT])(\d+)?", re.IGNORECASE)
_ACTIVE_TOKEN = lazy_pattern(r"A(\d+)(?:[._](\d+))?([KMBT])", re.IGNORECASE)
_VERSION_TOKEN = lazy_pattern(r"v\d", re.IGNORECASE)


def split_shard_name(stem: str) -> tuple[str, int, int] | None:
    """``name-00001-of-00003`` -> ``("name", 1, 3)``; ``None`` when *stem* is not a shard name."""
    m = _SHARD.match(stem)
    if m is None:
        return None
    return m["prefix"], int(m["index"]), int(m["total"])


def _strip_extension(name: str) -> str:
    for ext in (".gguf", ".safetensors"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _is_quant(token: str) -> bool:
    return _QUANT_TOKEN.fullmatch(token) is not None


def quant_token(file_name: str) -> str | None:
    """The quant token of a file or folder name, uppercased (FIELDS.md section 5), or ``None``.

    The name loses its extension and ``-NNNNN-of-MMMMM``; it is split on ``-`` and ``.``; the
    last token that is a quantization wins; ``UD-`` before it is kept (``UD-Q4_K_XL``).
    """
    stem = _strip_extension(file_name)
    shard = split_shard_name(stem)
    if shard is not None:
        stem = shard[0]
    tokens = re.split(r"[-.]", stem)
    for i in range(len(tokens) - 1, -1, -1):
        if _is_quant(tokens[i]):
            token = tokens[i].upper()
            if i > 0 and tokens[i - 1].upper() == "UD":
                token = "UD-" + token
            return token
    return None


def nominal_bits(quant_name: str | None) -> int | None:
    """The first run of digits in a quant name (``Q4_K_M`` -> 4, ``UD-Q4_K_XL`` -> 4), else ``None``."""
    if quant_name is None:
        return None
    m = re.search(r"\d+", quant_name)
    return int(m.group()) if m else None


def _strip_trailing_quant(tokens: list[str]) -> list[str]:
    if len(tokens) > 1 and _is_quant(tokens[-1]):
        tokens = tokens[:-1]
        if len(tokens) > 1 and tokens[-1].upper() == "UD":
            tokens = tokens[:-1]
    return tokens


def gguf_key_base(folder_name: str) -> str:
    """A GGUF model folder name without its ``-GGUF`` suffix and one trailing quant token.

    Case is kept (the key lowercases it; the display name prettifies it).
    """
    name = re.sub(r"-gguf$", "", folder_name, flags=re.IGNORECASE)
    return "-".join(_strip_trailing_quant(name.split("-")))


def mlx_key_base(folder_name: str) -> str:
    """An MLX model folder name without one trailing bits/dtype token (``-4bit``, ``-bf16``)."""
    tokens = folder_name.split("-")
    if len(tokens) > 1 and _MLX_BITS_TOKEN.fullmatch(tokens[-1]):
        tokens = tokens[:-1]
    return "-".join(tokens)


def display_name(source: str) -> str:
    """Prettify a ``general.name`` or a stripped folder name (FIELDS.md section 4)."""
    coarse = [t for t in re.split(r"[-\s]+", source.strip()) if t]
    coarse = _strip_trailing_quant(coarse)
    if len(coarse) > 1 and _MLX_BITS_TOKEN.fullmatch(coarse[-1]):
        coarse = coarse[:-1]
    words = []
    for token in (t for c in coarse for t in c.split("_") if t):
        if token.upper() in ("GGUF", "MLX"):
            continue
        if token.lower() == "it":
            words.append("Instruct")
        elif _VERSION_TOKEN.match(token):
            words.append(token)
        else:
            words.append(token[0].upper() + token[1:])
    return " ".join(words)


def _size_text(whole: str, frac: str | None, letter: str, tail: str | None) -> str:
    decimals = frac if frac is not None else tail
    number = whole if decimals is None else f"{whole}.{decimals}"
    return number + letter.upper()


def size_token(folder_name: str) -> str | None:
    """The parameter-size token of a name (FIELDS.md section 6): ``Qwen3-30B-A3B`` -> ``30B-A3B``."""
    tokens = folder_name.split("-")
    for i in range(1, len(tokens)):
        m = _SIZE_TOKEN.fullmatch(tokens[i])
        if m is None or (m[3] is not None and m[5] is not None):
            continue
        experts, whole, frac, letter, tail = m.groups()
        text = (f"{experts}x" if experts else "") + _size_text(whole, frac, letter, tail)
        if i + 1 < len(tokens):
            a = _ACTIVE_TOKEN.fullmatch(tokens[i + 1])
            if a is not None:
                text += "-A" + _size_text(a[1], a[2], a[3], None)
        return text
    return None


def rounded_count(n: int) -> str:
    """llama.cpp's rounded notation: at least two significant digits (268098176 -> ``268M``)."""
    threshold, letter = next(((t, x) for t, x in ((10**12, "T"), (10**9, "B"), (10**6, "M")) if n > t), (1000, "K"))
    scaled = n / threshold
    digits = len(str(round(scaled)).lstrip("0"))
    return f"{scaled:.{max(2 - digits, 0)}f}{letter}"


_BLOCK_CLOSE = {"{%": "%}", "{{": "}}"}
_TOOLS_NAME = lazy_pattern(r"(?<![\w.])tools\b")
#: Where a string literal may start, given the quotes that still can: after a quote of one kind
#: was left unclosed, no later quote of that kind can close either (see _literal_end).
_QUOTES = {"'\"": lazy_pattern("['\"]"), "'": lazy_pattern("'"), '"': lazy_pattern('"')}
#: The rest of a literal opened by each quote, up to its closing quote: characters, and pairs of
#: a backslash and whatever follows it. Possessive, so the match runs in C with no backtracking
#: state, and fails in one pass when the literal never closes.
_LITERAL_RESTS = {
    quote: lazy_pattern(f"[^{quote}\\\\]*+(?:\\\\.[^{quote}\\\\]*+)*+{quote}", re.DOTALL) for quote in "'\""
}


def mentions_tools(template: str) -> bool:
    """Whether a chat template uses the variable ``tools`` inside ``{% %}`` or ``{{ }}``.

    The template is searched as text and never rendered (HOSTILE.md R10); string literals inside
    a block do not count, nor does an attribute such as ``message.tools``. Linear in the length
    of the template: each character is looked at a bounded number of times, whatever the blocks,
    quotes and backslashes (a regex that restarts at every quote or opener is quadratic).
    """
    if "tools" not in template:
        return False
    return any(_TOOLS_NAME.search(_without_string_literals(body)) for body in _block_bodies(template))


def _block_bodies(template: str) -> Iterator[str]:
    """The text inside each ``{% %}`` and ``{{ }}`` block, left to right.

    A block ends at the first closer after its opener, in a string literal or not, and the next
    block starts after it (blocks do not nest). An opener that is never closed opens nothing, and
    neither does any later opener of its kind: so no opener is looked for twice.
    """
    next_open = {opener: template.find(opener) for opener in _BLOCK_CLOSE}
    while True:
        found = [(at, opener) for opener, at in next_open.items() if at >= 0]
        if not found:
            return
        start, opener = min(found)
        end = template.find(_BLOCK_CLOSE[opener], start + 2)
        if end < 0:
            next_open[opener] = -1  # no closer anywhere after: none for later openers either
            continue
        yield template[start + 2 : end]
        for other, at in next_open.items():
            if 0 <= at < end + 2:
                next_open[other] = template.find(other, end + 2)


def _without_string_literals(body: str) -> str:
    """*body* without its string literals, ``'...'`` and ``"..."`` with backslash escapes.

    Literals are taken left to right, each from the first quote not inside an earlier one to the
    next unescaped quote of its kind; a quote that no such quote closes is kept as text. Each
    character is read at most a few times: once a quote of one kind found no close, none after it
    can (see :func:`_literal_end`), so that kind is not looked for again.
    """
    kept: list[str] = []
    copied = 0  # body[:copied] is in kept, or dropped as a literal
    pos = 0
    quotes = "'\""  # the quotes that may still open a literal
    while quotes:
        m = _QUOTES[quotes].search(body, pos)
        if m is None:
            break
        at = m.start()
        end = _literal_end(body, at + 1, body[at])
        if end < 0:
            quotes = quotes.replace(body[at], "")
            pos = at + 1
            continue
        kept.append(body[copied:at])
        copied = pos = end
    kept.append(body[copied:])
    return "".join(kept)


def _literal_end(body: str, pos: int, quote: str) -> int:
    """Where the literal opened by *quote* just before *pos* ends (after its closing quote), or -1.

    A backslash takes the character after it, whatever it is. When no close is found, every
    later *quote* in *body* was taken by a backslash here (a free one would have closed this
    literal). A literal opened by one of them reads on from the character after it, where this
    reading also stood: from there both take the same steps, so that one cannot close either.
    """
    m = _LITERAL_RESTS[quote].match(body, pos)
    return -1 if m is None else m.end()


#: ``.Tools`` as a field of Go's text/template: the dot not part of a longer name before it.
_GO_TOOLS_FIELD = lazy_pattern(r"(?<![\w.])\$?\.Tools\b")
_GO_STRING_LITERAL = lazy_pattern(r'"(?:[^"\\]|\\.)*"|`[^`]*`')


def go_template_uses_tools(template: str) -> bool:
    """Whether a Go text/template (Ollama's template layer) uses the field ``.Tools`` inside an
    action ``{{ }}``: Ollama gives such a model the ``tools`` capability (SOURCES.md section 4).

    Searched as text, never executed (HOSTILE.md R10); string literals inside an action do not
    count. Linear in the length of the template.
    """
    if ".Tools" not in template:
        return False
    at = template.find("{{")
    while at >= 0:
        end = template.find("}}", at + 2)
        if end < 0:
            return False
        if _GO_TOOLS_FIELD.search(_GO_STRING_LITERAL.sub("", template[at + 2 : end])):
            return True
        at = template.find("{{", end + 2)
    return False


def bad_shard_name(name: str) -> bool:
    """A ``weight_map`` value that is not a plain file name in this folder (R10)."""
    return (
        not name.lower().endswith(".safetensors")
        or any(c in name for c in "/\\:\0")  # separators, Windows drives, and what os.open refuses
        or name.startswith(".")  # "..", hidden files and AppleDouble sidecars
        or os.path.isabs(name)
    )
