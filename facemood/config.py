"""Typed settings from ``config/*.yaml``, overridable by environment variables.

Precedence, highest first: an explicit argument (a CLI option), then the environment
variables named in :data:`ENV`, then the YAML file. YAML maps onto frozen dataclasses
that have no defaults of their own, so the YAML is the one place a value is set; an
unknown key, a missing key, a wrong type or an out-of-range value is a
:class:`ConfigError` naming the file and the key.

A file may start with ``extends: other.yaml`` (a path relative to it): it then holds only
the keys it changes, merged over the other file's mappings.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from facemood.errors import ConfigError

T = TypeVar("T")
_NoneType = type(None)

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
EXTENDS_KEY = "extends"

# Every environment variable the project reads, named once.
ENV = types.SimpleNamespace(
    ENDPOINT="AWS_ENDPOINT_URL",
    REGION="AWS_DEFAULT_REGION",
    RUNTIME_REGION="AWS_REGION",  # set by Lambda and ECS
    RAW_BUCKET="FACEMOOD_RAW_BUCKET",
    REFINED_BUCKET="FACEMOOD_REFINED_BUCKET",
    MODEL_BUCKET="FACEMOOD_MODEL_BUCKET",
    CONFIG_DIR="FACEMOOD_CONFIG_DIR",
    LOG_FORMAT="FACEMOOD_LOG_FORMAT",
    LOG_LEVEL="FACEMOOD_LOG_LEVEL",
    FACE_FUNCTION="FACEMOOD_FACE_FUNCTION",
    MODEL_URI="FACEMOOD_MODEL_URI",
    AUTH="FACEMOOD_AUTH",  # the app: none | oidc
    JOURNAL_TABLE="FACEMOOD_JOURNAL_TABLE",
    PEPPER_SECRET="FACEMOOD_PEPPER_SECRET",  # the Secrets Manager secret keying journal pseudonyms
    OIDC_CLIENT_ID="FACEMOOD_OIDC_CLIENT_ID",  # sign-in (the app's container writes Streamlit's secrets file)
    OIDC_CLIENT_SECRET="FACEMOOD_OIDC_CLIENT_SECRET",
    COOKIE_SECRET="FACEMOOD_COOKIE_SECRET",
    OIDC_METADATA_URL="FACEMOOD_OIDC_METADATA_URL",
    OIDC_REDIRECT_URI="FACEMOOD_OIDC_REDIRECT_URI",
    STATE_FILE="FACEMOOD_STATE_FILE",
    FER2013="FACEMOOD_FER2013",  # tests: where the real FER2013 data is
)


@dataclasses.dataclass(frozen=True)
class Buckets:
    """The three buckets of the architecture: raw uploads, refined data, model bundles."""

    raw: str
    refined: str
    model: str


# The environment variables that override the ``buckets`` section of any config file.
BUCKET_OVERRIDES = {"buckets.raw": ENV.RAW_BUCKET, "buckets.refined": ENV.REFINED_BUCKET,
                    "buckets.model": ENV.MODEL_BUCKET}


def aws_region() -> str:
    """The AWS region: ``AWS_DEFAULT_REGION``, else ``AWS_REGION`` (set in Lambda and ECS), else us-east-1."""
    return os.environ.get(ENV.REGION) or os.environ.get(ENV.RUNTIME_REGION) or "us-east-1"


def config_path(name: str) -> Path:
    """Return the path of ``config/<name>``, honouring ``FACEMOOD_CONFIG_DIR``."""
    base = Path(os.environ.get(ENV.CONFIG_DIR, CONFIG_DIR))
    return base / name


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


MAX_CONFIG_BYTES = 256 * 1024  # the largest config is a few kB


class _NoAliasLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors  # PyYAML's own hierarchy
    """PyYAML's safe loader, refusing aliases (``*name``): a config never needs one, and nested
    aliases make a few hundred bytes expand to gigabytes when the settings are read."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D102  # PyYAML's hook
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"line {mark.line + 1}: an alias (*{self.peek_event().anchor}); "
                                 "aliases are not allowed in config files")
        return super().compose_node(parent, index)


def read_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML mapping from ``path``, following ``extends:``; errors are ConfigErrors. A file
    over :data:`MAX_CONFIG_BYTES` or holding an alias is refused before anything is built from it."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size} bytes; a config file is at most "
                              f"{MAX_CONFIG_BYTES // 1024} KiB")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)  # noqa: S506  # a safe loader
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: byte 0x{exc.object[exc.start]:02X} at offset {exc.start} is not UTF-8 "
                          "(save the file as UTF-8 text)") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} is a folder, not a config file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    base = data.pop(EXTENDS_KEY, None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: {EXTENDS_KEY} must name a file")
    base_path = (path.parent / base).resolve()
    if base_path in _seen:
        raise ConfigError(f"{path}: {EXTENDS_KEY} {base} loops back to itself")
    return _merge(read_yaml(base_path, (*_seen, base_path)), data)


def _check_scalar(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a scalar type hint, allowing int where float is expected."""
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {hint.__name__}, got a boolean")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _convert(value: Any, hint: Any, where: str) -> Any:
    """Convert a YAML value to the type ``hint`` describes, or raise ConfigError."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and _NoneType in args:
            return None
        others = [a for a in args if a is not _NoneType]
        return _convert(value, others[0], where)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return from_mapping(hint, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list")
        inner = args[0] if args else Any
        return tuple(_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return {str(k): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if value is None:
        raise ConfigError(f"{where}: a value is required")
    return _check_scalar(value, hint, where)


def from_mapping(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown or missing keys raise ConfigError (a key
    renamed in ``cls.RENAMED_KEYS``, old name to new, is refused naming its new name)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    prefix = f"{where}." if where else ""
    renamed = [key for key in unknown if key in getattr(cls, "RENAMED_KEYS", {})]
    if renamed:
        raise ConfigError(f"config key {prefix}{renamed[0]} is now {prefix}{cls.RENAMED_KEYS[renamed[0]]}: "
                          "rename it (docs/changelog.md lists renamed keys)")
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; known keys: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, field in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing config key {key}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from exc


def _apply_environment(data: dict[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Set each dotted key of ``overrides`` whose environment variable is set and non-empty."""
    for dotted, variable in overrides.items():
        value = os.environ.get(variable)
        if not value:
            continue
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{dotted}: expected a mapping above it")
        node[last] = value
    return data


def load(cls: type[T], path: str | Path, section: str | None = None,
         overrides: Mapping[str, str] | None = None) -> T:
    """Load dataclass ``cls`` from the YAML file at ``path`` (or one ``section`` of it).

    ``overrides`` maps dotted keys (``buckets.raw``) to the environment variables that
    override them; their values are checked like the file's.
    """
    data = read_yaml(path)  # its errors name the file already
    try:
        if section is not None:
            data = data.get(section, {})
            if not isinstance(data, dict):
                raise ConfigError(f"{section}: expected a mapping")
        return from_mapping(cls, _apply_environment(data, overrides or {}), section or "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                open_low: bool = False) -> None:
    """Raise ValueError naming ``name`` unless ``value`` lies in [low, high] (or (low, high] with ``open_low``).

    Settings classes call it from ``__post_init__``; :func:`from_mapping` turns the
    ValueError into a ConfigError that names the file and the section.
    """
    if not math.isfinite(value):  # NaN passes every comparison; infinity is never a useful limit
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        if low is not None and high is not None:
            bounds = f"in {'(' if open_low else '['}{low:g}, {high:g}]"
        elif low is not None:
            bounds = f"{'>' if open_low else '>='} {low:g}"
        else:
            bounds = f"<= {high:g}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
