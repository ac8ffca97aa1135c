"""One typed configuration loader for every command (CLI option types: :mod:`clickme_analysis.cliargs`).

A configuration is a frozen dataclass whose field annotations give each key's type and whose
``metadata`` may add constraints::

    @dataclass(frozen=True)
    class MapConfig:
        size: int = field(default=256, metadata={"min": 1})
        blur: Literal["box", "gaussian", "disc"] = "box"

:func:`load_config` builds one from a TOML file (keys at top level or under any of the named
section tables) or from a dict, and raises :class:`~clickme_analysis.errors.InputError` naming
the file, the key, what was expected and what came, for unknown keys, wrong types and values out
of range. Types understood: ``int``, ``float`` (ints accepted), ``bool``, ``str``, ``list`` /
``tuple`` (optionally of one item type), ``Literal[...]`` (choices) and ``X | None``.
Metadata keys: ``min``, ``max`` (inclusive), ``gt`` (exclusive lower bound), ``choices``,
``check`` (a callable raising ``ValueError(message)`` for a bad value).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
import warnings
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_toml

__all__ = ["load_config", "config_fields", "check_value"]


def config_fields(cls) -> dict[str, dataclasses.Field]:
    """The dataclass fields of ``cls`` by name, with their annotations resolved to types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, f in fields.items():
        f.type = hints[name]
    return fields


def _type_name(kind) -> str:
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(kind))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(kind))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(kind) if a is not Ellipsis]
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if kind is type(None):
        return "nothing"
    return getattr(kind, "__name__", str(kind))


def _coerce(kind, value):
    """Return ``value`` as ``kind`` or raise ``TypeError``."""
    origin = typing.get_origin(kind)
    if kind is typing.Any:
        return value
    if origin is typing.Literal:
        if value in typing.get_args(kind) and type(value) in {type(c) for c in typing.get_args(kind)}:
            return value
        raise TypeError
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            try:
                return _coerce(option, value)
            except TypeError:
                continue
        raise TypeError
    if origin in (list, tuple) or kind in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError
        args = [a for a in typing.get_args(kind) if a is not Ellipsis]
        items = [_coerce(args[0], v) for v in value] if args else list(value)
        return tuple(items) if (origin or kind) is tuple else items
    if kind is type(None):
        if value is None:
            return None
        raise TypeError
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError
    if kind is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise TypeError
    if isinstance(kind, type) and isinstance(value, kind):
        return value
    raise TypeError


def check_value(name: str, value, kind=typing.Any, *, path=None, min=None, max=None, gt=None, choices=None):
    """Check one value against a type and bounds; return it coerced (ints accepted as floats).

    Examples
    --------
    >>> check_value("lr", 1, float, gt=0)
    1.0
    >>> check_value("lr", -0.1, float, gt=0)
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'lr': expected a value > 0, got -0.1
    """
    try:
        value = _coerce(kind, value)
    except TypeError:
        raise InputError(f"expected {_type_name(kind)}, got {value!r}", path=path, field=name) from None
    if choices is not None and value not in choices:
        raise InputError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}", path=path, field=name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if gt is not None and not value > gt:
            raise InputError(f"expected a value > {gt}, got {value!r}", path=path, field=name)
        if min is not None and value < min:
            raise InputError(f"expected a value >= {min}, got {value!r}", path=path, field=name)
        if max is not None and value > max:
            raise InputError(f"expected a value <= {max}, got {value!r}", path=path, field=name)
    return value


def load_config(cls, source=None, *, sections=(), aliases=None, deprecated=None, overrides=None):
    """Build the frozen dataclass ``cls`` from a TOML file or a dict, checking every key.

    Parameters
    ----------
    cls : dataclass type
        The configuration class; its annotations and field metadata define what is valid.
    source : str, os.PathLike, dict or None
        A TOML file, a dict of values, or None for the defaults.
    sections : tuple of str
        Table names (``[optim]``, say) whose keys are read as if at top level.
    aliases : dict, optional
        Other accepted names for keys (``{"lambda": "lam"}``).
    deprecated : dict, optional
        Old names still accepted for keys (``{"normalisation": "normalization"}``), each with a
        :class:`FutureWarning` naming the file and the new name.
    overrides : dict, optional
        Values applied over the file's (from command-line options), checked the same way.

    Raises
    ------
    InputError
        Naming the file, the key, what was expected and what came.

    Examples
    --------
    >>> from dataclasses import dataclass, field
    >>> @dataclass(frozen=True)
    ... class C:
    ...     size: int = field(default=256, metadata={"min": 1})
    ...     rate: float = 0.5
    >>> load_config(C, {"size": 64, "rate": 1})
    C(size=64, rate=1.0)
    >>> load_config(C, {"sise": 64})
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'sise': unknown setting (did you mean 'size'?); expected one of rate, size
    """
    path = None
    if source is None:
        values = {}
    elif isinstance(source, dict):
        values = source
    else:
        path = Path(source)
        values = read_toml(path, "configuration file")
    deprecated = deprecated or {}
    aliases = {**(aliases or {}), **deprecated}
    fields = config_fields(cls)
    flat = _flatten(values, sections, fields, aliases, deprecated, path)
    checked = {name: _check_field(fields[name], value, shown, path) for name, (shown, value) in flat.items()}
    for key, value in (overrides or {}).items():
        name = aliases.get(key, key)
        if name not in fields:
            raise InputError("unknown setting", field=key)
        checked[name] = _check_field(fields[name], value, key, None)
    try:
        return cls(**checked)
    except InputError:
        raise
    except (TypeError, ValueError) as err:
        raise InputError(str(err), path=path) from None


def _flatten(values: dict, sections, fields: dict, aliases: dict, deprecated: dict, path) -> dict:
    """Field name -> (key as shown, value), from top-level keys and those of ``sections``."""
    flat: dict[str, tuple[str, object]] = {}

    def put(key, value, shown):
        name = aliases.get(key, key)
        if key in deprecated:
            where = f"{path}: " if path is not None else ""
            warnings.warn(
                f"{where}setting {shown!r} is deprecated; use {deprecated[key]!r}", FutureWarning, stacklevel=4
            )
        if name not in fields or not fields[name].init:
            close = difflib.get_close_matches(key, list(fields) + [a for a in aliases if a not in deprecated], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(
                f"unknown setting{hint}; expected one of {', '.join(sorted(fields))}", path=path, field=shown
            )
        if name in flat:
            raise InputError(f"set twice (also as {flat[name][0]!r})", path=path, field=shown)
        flat[name] = (shown, value)

    for key, value in values.items():
        if key in sections and isinstance(value, dict):
            for sub, subvalue in value.items():
                put(sub, subvalue, f"{key}.{sub}")
        else:
            put(key, value, key)
    return flat


def _check_field(f: dataclasses.Field, value, shown: str, path):
    meta = f.metadata
    value = check_value(
        shown,
        value,
        f.type,
        path=path,
        min=meta.get("min"),
        max=meta.get("max"),
        gt=meta.get("gt"),
        choices=meta.get("choices"),
    )
    if meta.get("check") is not None:  # a callable that raises ValueError(message)
        try:
            meta["check"](value)
        except ValueError as err:
            raise InputError(str(err), path=path, field=shown) from None
    return value
