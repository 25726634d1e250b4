"""User YAML files read safely, with the line of every value kept.

The inventory and the rule files are user input (SPEC sections 3 and 4): they
are parsed with the safe loader only, refused when huge, deeply nested or
alias-expanding (issue 6, "Hostile input"), and walked as composed nodes so
every problem can be reported as ``FILE:LINE: message``. Every problem in a
file is collected first (`Problems`) and raised once: the first in file order
plus a count of the rest (SPEC section 2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from auditor.errors import InputError

MAX_FILE_BYTES = 16 * 1024 * 1024  # no inventory or rule set comes near this
MAX_DEPTH = 32  # ours need 4 levels; a deeper file is a mistake or an attack
MAX_EXPANDED_NODES = 100_000  # what aliases may expand to (billion laughs)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()

# YAML 1.1 tags of plain scalars that we read as text where a name or an
# address is expected (`1:2:3:4:5:6:7:8` resolves to a sexagesimal int).
TAG_STR = "tag:yaml.org,2002:str"
TAG_NULL = "tag:yaml.org,2002:null"
TAG_INT = "tag:yaml.org,2002:int"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_MERGE = "tag:yaml.org,2002:merge"
_SAFE_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
) | {"!"}  # "!" is the non-specific tag of a quoted scalar in some emitters


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


class Problems:
    """Every problem of the files being loaded, reported at once."""

    def __init__(self) -> None:
        self._items: list[tuple[int, int, int, str]] = []
        self._files: dict[str, int] = {}

    def register(self, path: str) -> None:
        """Put `path` first (the file the user named), before files it refers to."""
        self._files.setdefault(path, len(self._files))

    def add(self, path: str, line: int, message: str) -> None:
        # One line on a terminal, whatever a name in the file contains.
        message = message.translate(_CONTROL_ESCAPES)
        order = self._files.setdefault(path, len(self._files))
        text = f"{path}:{line}: {message}" if line else f"{path}: {message}"
        self._items.append((order, line, len(self._items), text))

    def __len__(self) -> int:
        return len(self._items)

    def messages(self) -> list[str]:
        """In file order, then line order, then the order found."""
        return [text for *_, text in sorted(self._items)]

    def raise_if_any(self, error: type[InputError]) -> None:
        if self._items:
            texts = self.messages()
            raise error(texts[0], more=len(texts) - 1)


def read_user_file(path: str | Path, error: type[InputError]) -> bytes:
    """The bytes of a user file, or `error` with one clear line."""
    shown = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise error(f"{shown}: file is {size} bytes; refusing files over {MAX_FILE_BYTES} bytes")
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise error(f"{shown}: is a directory, expected a file") from None
    except OSError as exc:
        raise error(f"{shown}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:  # grew while we looked, or a device
        raise error(f"{shown}: refusing files over {MAX_FILE_BYTES} bytes")
    return data


def decode_text(data: bytes, shown: str, error: type[InputError]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{shown}: byte {exc.start}: not UTF-8 text") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_shape(text: str, shown: str, error: type[InputError]) -> None:
    """One streaming pass over the parser's events (no recursion, no node
    tree): refuse deep nesting and alias expansion before composing."""
    depth = 0
    sizes: list[int] = []  # expanded node count of each open collection
    anchored: dict[str, int] = {}  # anchor -> expanded node count
    opened_anchor: list[str | None] = []
    total = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in _SAFE_TAGS:
                raise error(
                    f"{shown}:{_event_line(event)}: tag '{tag}' is not allowed "
                    "(plain YAML only)"
                )
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise error(
                        f"{shown}:{_event_line(event)}: nesting deeper than {MAX_DEPTH} levels; "
                        "refusing the file"
                    )
                sizes.append(1)
                opened_anchor.append(event.anchor)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
                size = sizes.pop()
                anchor = opened_anchor.pop()
                if anchor is not None:
                    anchored[anchor] = size
                if sizes:
                    sizes[-1] += size
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                alias = event.anchor if isinstance(event, yaml.AliasEvent) else None
                size = anchored.get(alias, 1) if alias is not None else 1
                if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
                    anchored[event.anchor] = 1
                total += size
                if sizes:
                    sizes[-1] += size
                if total > MAX_EXPANDED_NODES or (sizes and sizes[-1] > MAX_EXPANDED_NODES):
                    raise error(
                        f"{shown}:{_event_line(event)}: aliases expand to more than "
                        f"{MAX_EXPANDED_NODES} values; refusing the file"
                    )
    except yaml.YAMLError as exc:
        raise error(_yaml_error_line(exc, shown)) from None


def _event_line(event: yaml.Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 0


def _yaml_error_line(exc: yaml.YAMLError, shown: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{shown}:{mark.line + 1}: not valid YAML: {problem}"
    return f"{shown}: not valid YAML: {problem}"


def compose_user_yaml(text: str, shown: str, error: type[InputError]) -> yaml.Node | None:
    """The node tree of a user YAML file (safe tags only), or `error`."""
    _check_shape(text, shown, error)
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise error(_yaml_error_line(exc, shown)) from None
    except RecursionError:  # the pure-Python composer; _check_shape bounds depth
        raise error(f"{shown}: nesting too deep; refusing the file") from None


@dataclass
class Located:
    """A YAML node and where it came from, for walking a user file."""

    node: yaml.Node
    path: str

    @property
    def line(self) -> int:
        return line_of(self.node)

    @property
    def kind(self) -> str:
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        if self.node.tag == TAG_NULL:
            return "nothing"
        return f"{_type_name(self.node.tag)} {self.node.value!r}"

    def is_null(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == TAG_NULL

    def items(self, problems: Problems, where: str) -> Iterator[tuple[str, Located]]:
        """Key/value pairs of a mapping; duplicate and non-text keys are
        problems (PyYAML would silently keep the last). Merge keys
        (``<<: *defaults``) supply the keys the mapping does not set itself."""
        seen: dict[str, int] = {}
        merged: list[Located] = []
        for key_node, value_node in self.node.value:
            key = Located(key_node, self.path)
            if key_node.tag == TAG_MERGE:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    located = Located(source, self.path)
                    if located.kind != "a mapping":
                        problems.add(self.path, key.line, f"{where}: '<<' merges a mapping, found {located.kind}")
                    else:
                        merged.append(located)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == TAG_NULL:
                problems.add(self.path, key.line, f"{where}: a key must be text, found {key.kind}")
                continue
            name = key_node.value
            if name in seen:
                problems.add(
                    self.path, key.line, f"{where}: duplicate key '{name}' (first on line {seen[name]})"
                )
                continue
            seen[name] = key.line
            yield name, Located(value_node, self.path)
        for source in merged:  # earlier sources win, as in YAML 1.1
            for name, value in source.items(problems, where):
                if name not in seen:
                    seen[name] = value.line
                    yield name, value

    def elements(self) -> list[Located]:
        return [Located(n, self.path) for n in self.node.value]

    def text(self) -> str | None:
        """The scalar's text as written (names, addresses), None when it is not
        a non-empty scalar."""
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag == TAG_NULL:
            return None
        value = str(self.node.value).strip()
        return value or None

    def value(self) -> object:
        """The scalar as the safe loader reads it (int, bool, str, ...)."""
        return _constructor.construct_object(self.node, deep=True)


def _type_name(tag: str) -> str:
    return {
        TAG_STR: "text",
        TAG_INT: "number",
        TAG_BOOL: "boolean",
        "tag:yaml.org,2002:float": "number",
        "tag:yaml.org,2002:timestamp": "date",
    }.get(tag, "value")


def load_user_yaml(path: str | Path, error: type[InputError]) -> tuple[Located | None, bytes]:
    """Read, check and compose a user YAML file: (root or None when empty, raw
    bytes for hashing)."""
    shown = str(path)
    data = read_user_file(path, error)
    text = decode_text(data, shown, error)
    root = compose_user_yaml(text, shown, error)
    return (Located(root, shown) if root is not None else None), data
