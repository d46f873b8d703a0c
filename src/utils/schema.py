"""Config schemas: every key declared once, in a dataclass, with its type, default, allowed values and help.

A schema is a dataclass whose fields come from `key()`; Hydra composes the YAML files onto it (the schemas
are stored in Hydra's ConfigStore by src/cli.py), so a value of the wrong type or a misspelt key in a YAML
file fails at compose time. `validate` then checks what types cannot say (ranges, choices, unknown keys a
`+key=...` override slipped in), and `translate` turns OmegaConf's and Hydra's own errors into the same
message: the key, the value, what is allowed, and the fix (a `ConfigError`: exit status 2, no traceback).
Code reads typed objects (`build`), never `cfg.get(key, default)`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from src.utils.errors import ConfigError

Check = Callable[[Any], "str | None"]  # a value -> why it is not allowed (None: allowed)


def key(
    default: Any = MISSING,
    help: str = "",
    *,
    choices: tuple | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    check: Check | None = None,
    allowed: str | None = None,
    factory: Callable[[], Any] | None = None,
    safe: bool = False,
    rows: bool = True,
) -> Any:
    """Declare a config key. `choices`/`ge`/`gt`/`le`/`check` say which values are allowed (`allowed`: how to
    say it, when a `check` decides); `safe`: a resumed run may change it (it does not alter training);
    `rows=False`: a data key that does not change the tokenized rows (batching, reporting): not part of the
    tokenized-data cache key."""
    metadata = {
        "help": help,
        "choices": choices,
        "ge": ge,
        "gt": gt,
        "le": le,
        "check": check,
        "allowed": allowed,
        "safe": safe,
        "rows": rows,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def redefault(schema: type, name: str, default: Any) -> Any:
    """The same key as `schema`'s (type, help, allowed values) with another default, for a family's schema."""
    inherited = next(f for f in dataclasses.fields(schema) if f.name == name)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: default, metadata=inherited.metadata)
    return dataclasses.field(default=default, metadata=inherited.metadata)


def fields_of(schema: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(schema) if f.name != "defaults"}


def _type_words(annotation: Any) -> str:
    """How to say a field's type to a user."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_type_words(a) for a in inner) + (" or null" if type(None) in args else "")
    names = {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }
    return names.get(origin or annotation, "a value")


def allowed(f: dataclasses.Field, owner: type | None = None) -> str:
    """What a key accepts, in words: "an integer >= 1", "one of ['head', 'tail']"..."""
    meta = f.metadata
    if meta.get("allowed"):
        return meta["allowed"]
    if meta.get("choices") is not None:
        return f"one of {list(meta['choices'])}"
    hints = typing.get_type_hints(owner) if owner is not None else {}
    words = _type_words(hints.get(f.name, f.type))
    bounds = [f"{op} {meta[k]}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<=")) if meta.get(k) is not None]
    return f"{words} {' and '.join(bounds)}".strip()


def problem(value: Any, f: dataclasses.Field) -> str | None:
    """Why `value` is not allowed for the key (None: it is). Types were checked when the config was composed."""
    meta = f.metadata
    if value is None or (isinstance(value, str) and value == MISSING):
        return None
    if meta.get("choices") is not None and value not in meta["choices"]:
        return "not an allowed value"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for k, test in (
            ("ge", value >= (meta.get("ge") or 0)),
            ("gt", value > (meta.get("gt") or 0)),
            ("le", value <= (meta.get("le") or 0)),
        ):
            if meta.get(k) is not None and not test:
                return "out of range"
    if meta.get("check") is not None:
        return meta["check"](value)
    return None


def _message(path: str, value: Any, why: str, f: dataclasses.Field | None, owner: type | None) -> ConfigError:
    if f is None:
        return ConfigError(f"{path}={value!r}: {why}")
    help_text = f" ({f.metadata['help']})" if f.metadata.get("help") else ""
    what = allowed(f, owner)
    return ConfigError(f"{path}={value!r}: {why}{help_text}. Allowed: {what}. Fix: {path}=<{what}>.")


def unknown_key(path: str, name: str, schema: type) -> ConfigError:
    known = list(fields_of(schema))
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {path}{close[0]}?" if close else ""
    return ConfigError(
        f"Unknown config key {path}{name}.{hint} The keys of {path.rstrip('.') or 'the config'} are: "
        f"{', '.join(known)}. Fix: remove it or spell it as one of them (a YAML file's keys are checked too)."
    )


def validate(cfg: DictConfig, path: str = "") -> None:
    """Every node of a composed config that has a schema: no unknown key, every value allowed."""
    schema = OmegaConf.get_type(cfg)
    if dataclasses.is_dataclass(schema):
        declared = fields_of(schema)
        for name in cfg:
            if name not in declared and name != "defaults":  # a schema's own defaults list (Hydra's)
                raise unknown_key(path, str(name), schema)
        for name, f in declared.items():
            if OmegaConf.is_missing(cfg, name):
                continue
            value = cfg[name]
            plain = (
                OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value
            )
            why = problem(plain, f)
            if why:
                raise _message(f"{path}{name}", plain, why, f, schema)
    for name in cfg:
        if not OmegaConf.is_missing(cfg, name) and isinstance(cfg[name], DictConfig):
            validate(cfg[name], f"{path}{name}.")


def flagged(cfg: DictConfig, flag: str, path: str = "") -> set[str]:
    """The dotted keys of a composed config whose declaration sets `flag` (e.g. safe)."""
    out: set[str] = set()
    schema = OmegaConf.get_type(cfg)
    if dataclasses.is_dataclass(schema):
        out |= {f"{path}{name}" for name, f in fields_of(schema).items() if f.metadata.get(flag)}
    for name in cfg:
        if not OmegaConf.is_missing(cfg, name) and isinstance(cfg[name], DictConfig):
            out |= flagged(cfg[name], flag, f"{path}{name}.")
    return out


def build(schema: type, values: Mapping | DictConfig | Any, path: str) -> Any:
    """A typed object (an instance of `schema`) from a mapping, a composed node or an instance (checked again: a
    dataclass does not check what its constructor is given): unknown keys, wrong types and values out of range
    fail with the key and the fix. `path` is the keys' prefix in messages (data, model...)."""
    prefix = f"{path}." if path else ""
    if dataclasses.is_dataclass(values) and not isinstance(values, type):
        values = plain(values)
    node = OmegaConf.structured(schema)
    try:
        if isinstance(values, DictConfig):  # resolved where it stands: `${paths.root_dir}` needs the whole config
            values = OmegaConf.to_container(values, resolve=True)
        node = OmegaConf.merge(node, OmegaConf.create(dict(values)))
    except OmegaConfBaseException as err:
        raise translate(err, prefix) or err from None
    validate(node, prefix)
    return OmegaConf.to_object(node)


def plain(obj: Any) -> Any:
    """A typed object (or a config node) as plain containers: what checkpoints store (weights_only loading)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "defaults"}
    if isinstance(obj, (DictConfig, ListConfig)):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def translate(err: BaseException, prefix: str = "") -> ConfigError | None:
    """OmegaConf's and Hydra's config errors (a wrong type, an unknown key, a missing value), found at compose
    time or when building a typed object, as a ConfigError naming the key, the value and the fix; None for
    anything else."""
    while not isinstance(err, OmegaConfBaseException) and (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__  # Hydra re-raises a YAML file's error "during handling" of it
    if not isinstance(err, OmegaConfBaseException):
        return None
    full_key = f"{prefix}{getattr(err, 'full_key', None) or getattr(err, 'key', '')}"
    schema, name = getattr(err, "object_type", None), str(getattr(err, "key", "") or "")
    declared = fields_of(schema) if dataclasses.is_dataclass(schema) else {}
    if isinstance(err, MissingMandatoryValue):
        return ConfigError(f"Missing value for {full_key}. Fix: give it on the command line, e.g. {full_key}=<value>.")
    if isinstance(err, (ConfigKeyError, ConfigAttributeError)) and declared and name not in declared:
        return unknown_key(full_key[: len(full_key) - len(name)], name, schema)
    if isinstance(err, ValidationError):
        value = getattr(err, "value", None)
        value = value if value is not None else str(err).split("'")[1] if "'" in str(err) else "?"
        return _message(full_key, value, "not of the right type", declared.get(name), schema)
    return ConfigError(f"{full_key}: {str(err).splitlines()[0]}")
