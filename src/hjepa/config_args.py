"""``hjepa <command> --config runs/<name>/config.json [overrides]``: a run's saved settings as arguments.

A run's ``config.json`` holds its command's options as nested JSON (the job's fields at the top, as
on the command line) plus the reserved keys ``run`` (provenance) and ``resolved`` (settings derived
from the options). :func:`config_arguments` turns it back into the flags that produced it, walking
the command's dataclass so that only real options are emitted: ``{"train": {"steps": 6}}`` becomes
``--train.steps 6``; booleans become ``--x`` / ``--no-x``; tuples several values; None ``None``.
The user's own arguments come after them, so they override the file.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Annotated, Any

import tyro

from hjepa.errors import InputError

RESERVED = ("run", "resolved")
"""Keys of config.json that are not options."""


def _unwrap(hint: Any) -> tuple[Any, tuple]:
    """``Annotated[T, extras...]`` -> ``(T, extras)``; optional dataclasses stay as they are."""
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        inner, more = _unwrap(base)
        return inner, (*extras, *more)
    return hint, ()


def _flag(prefix: str, name: str) -> str:
    return "--" + (f"{prefix}.{name}" if prefix else name).replace("_", "-")


def _values(value: Any) -> list[str]:
    if value is None:
        return ["None"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value] if value else []
    return [str(value)]


def config_arguments(command: type, config: dict) -> list[str]:
    """The flags of ``command`` (a command dataclass) that reproduce ``config`` (see module docstring)."""
    args: list[str] = []
    unknown: list[str] = []

    def visit(cls: type, data: dict, prefix: str) -> None:
        hints = typing.get_type_hints(cls, include_extras=True)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown.extend(f"{prefix + '.' if prefix else ''}{k}" for k in data
                       if k not in names and k not in RESERVED and not _flattened_holds(cls, hints, k))
        for f in dataclasses.fields(cls):
            hint, extras = _unwrap(hints[f.name])
            if any(extra is tyro.conf.Suppress for extra in extras):
                continue
            flattened = any(getattr(extra, "name", None) == "" for extra in extras)
            if flattened and dataclasses.is_dataclass(hint):
                visit(hint, data, prefix)
                continue
            if f.name not in data:
                continue
            value = data[f.name]
            if dataclasses.is_dataclass(hint) and isinstance(value, dict):
                visit(hint, value, f"{prefix}.{f.name}" if prefix else f.name)
            elif hint is bool and isinstance(value, bool):  # --x / --no-x
                args.append(_flag(prefix, f.name if value else f"no_{f.name}"))
            else:
                args.extend([_flag(prefix, f.name), *_values(value)])

    visit(command, config, "")
    if unknown:
        raise InputError(f"the config file holds options this command does not have: {', '.join(sorted(unknown))}")
    return args


def _flattened_holds(cls: type, hints: dict, key: str) -> bool:
    """Whether ``key`` is an option of a dataclass field of ``cls`` flattened into it (``arg(name="")``)."""
    for f in dataclasses.fields(cls):
        hint, extras = _unwrap(hints[f.name])
        if any(getattr(extra, "name", None) == "" for extra in extras) and dataclasses.is_dataclass(hint):
            inner = typing.get_type_hints(hint, include_extras=True)
            if key in {g.name for g in dataclasses.fields(hint)} or _flattened_holds(hint, inner, key):
                return True
    return False


def read_config(path: Path) -> dict:
    """The JSON object in ``path``, or an :class:`InputError` naming the problem."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"config file {path} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise InputError(f"config file {path} holds a {type(data).__name__}, not a JSON object of options")
    return data


def expand_config(argv: list[str], commands: dict[tuple[str, ...], type]) -> list[str]:
    """``argv`` with ``--config FILE`` replaced by the file's flags, for the subcommand ``argv`` starts
    with (``commands`` maps subcommand words, e.g. ``("agent", "run")``, to command dataclasses)."""
    if "--config" not in argv:
        return argv
    at = argv.index("--config")
    if at + 1 >= len(argv):
        raise InputError("--config needs a file: --config runs/<name>/config.json")
    words = tuple(argv[:at])
    matches = [key for key in commands if words[: len(key)] == key]
    if not matches:
        raise InputError("--config goes after the command: hjepa <command> --config runs/<name>/config.json")
    key = max(matches, key=len)
    config = read_config(Path(argv[at + 1]))
    written_by = (config.get("run") or {}).get("subcommand")
    if written_by and written_by != " ".join(key):
        raise InputError(f"{argv[at + 1]} was written by `hjepa {written_by}`; re-run it with that command")
    return argv[:at] + config_arguments(commands[key], config) + argv[at + 2:]
