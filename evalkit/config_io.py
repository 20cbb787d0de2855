"""Reading YAML configs and turning validation failures into one-line errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from evalkit.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def first_error(exc: ValidationError) -> str:
    """'field.path: message' for the first problem pydantic found."""
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"


MAX_CONFIG_BYTES = 2_000_000  # a config, a rubric or a stem map: far above any real one, far below a memory problem
MAX_YAML_NODES = 200_000  # values after expanding every alias: a "billion laughs" file expands to billions
MAX_YAML_DEPTH = 50


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values ``node`` becomes once every alias is expanded (an alias shares its target node, so the graph
    is walked once per node with the sizes memoised)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_YAML_NODES + 1  # a cycle counts as too large
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = min(size, MAX_YAML_NODES + 1)
    return memo[id(node)]


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (the later one would silently win), alias bombs and absurd nesting."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested more than {MAX_YAML_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        if node is not None and _expanded_size(node, {}) > MAX_YAML_NODES:
            raise yaml.YAMLError(f"expands to more than {MAX_YAML_NODES:,} values through its aliases (*name): refused as "
                                 "an alias bomb")
        return node

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` merges; keys written beside it override the merged ones, as YAML intends
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r} (the later one would "
                                                        "silently win)", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str | Path) -> Any:
    """YAML text into Python values through the guarded loader; any problem is a ConfigError naming ``where``."""
    try:
        return yaml.load(text, Loader=_GuardedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({' '.join(str(exc).split())[:200]})") from exc
    except RecursionError as exc:
        raise ConfigError(f"{where}: nested too deeply to read") from exc


def read_text_limited(path: Path, limit: int = MAX_CONFIG_BYTES) -> str:
    """A config file's text: UTF-8, at most ``limit`` bytes, errors naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ConfigError(f"{path}: a folder; give the YAML file")
        if size > limit:
            raise ConfigError(f"{path}: {size:,} bytes, over the {limit:,}-byte limit for a config; is this the right file?")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    return parse_yaml(read_text_limited(path), path)


def validate(model: type[M], raw: Any, where: str | Path) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {first_error(exc)}") from exc


__all__ = ["first_error", "load_yaml", "parse_yaml", "read_text_limited", "validate"]
