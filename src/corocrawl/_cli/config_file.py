"""`--config FILE`: a command's options in a TOML file; flags on the command line win.

Each key is an option's long name without its dashes (`max-depth = 2`; `max_depth` too), at
the top of the file or in a table that only groups them for the reader (`[scope]`,
`[politeness]`...). The seeds are `seeds = ["https://example.org/"]`. A value is checked as the
flag's would be; an unknown key, or a value of the wrong kind, is an error naming the file,
the line and the key. `--print-config` prints the settings in effect, as such a file.

    # crawl.toml
    seeds = ["https://example.org/"]
    state = "crawl.db"
    [scope]
    max-depth = 3
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError

__all__ = ["add_config_options", "print_config", "with_config_file"]

# Options that say how to read the others, and --help's kind: never in a file.
_NOT_IN_A_FILE = frozenset({"help", "config", "print_config", "version"})
_UNSET = object()


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="read options from this TOML file (long option names as keys: max-depth = 2); "
        "flags given here win",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings in effect (the file's, then the flags') as TOML, and exit",
    )


def with_config_file(
    command: argparse.ArgumentParser, path: Path, given: argparse.Namespace
) -> None:
    """Make the file's values the command's defaults: parsed again, the flags win. `given`
    is the command line parsed alone: an option it sets (or another of its exclusive group)
    keeps none of the file's value, so a list or a count is the flag's, not both."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--config {str(path)!r}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from None
    actions = _options_by_key(command)
    flagged = _given(command, given)
    defaults: dict[str, Any] = {}
    set_at: dict[str, str] = {}
    for key, value, table in _settings(document):
        where = f"{path}:{_line_of(text, key, table)}"
        action = actions.get(key.replace("_", "-"))
        if action is None:
            near = difflib.get_close_matches(key.replace("_", "-"), actions, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{where}: unknown option {key!r}{hint}")
        converted = _value(action, value, f"{where}: {key}")
        if converted is _UNSET:
            continue
        if action.dest in set_at:
            raise ConfigError(f"{where}: {key!r} is set twice (also at {set_at[action.dest]})")
        set_at[action.dest] = where
        if action.dest not in flagged:
            defaults[action.dest] = converted
    command.set_defaults(**defaults)


def _given(command: argparse.ArgumentParser, given: argparse.Namespace) -> set[str]:
    """The options the command line sets, and those exclusive with them."""
    dests = {
        action.dest
        for action in command._actions
        if getattr(given, action.dest, None) not in (None, [], command.get_default(action.dest))
    }
    for group in command._mutually_exclusive_groups:
        members = {action.dest for action in group._group_actions}
        if members & dests:
            dests |= members
    return dests


def print_config(command: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The settings in effect as a TOML file `--config` reads (unset ones commented out)."""
    lines = []
    for key, action in _options_by_key(command).items():
        value = getattr(args, action.dest, None)
        name = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml(key)  # "http1.1"
        if isinstance(action, argparse._StoreConstAction):  # one of a few flags for one value
            value = True if value == action.const else None
        if value is None or value == []:
            lines.append(f"# {name} =")
        else:
            lines.append(f"{name} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _options_by_key(command: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Each option of the command by its key: the long name without dashes (the positional
    seeds by their name)."""
    found: dict[str, argparse.Action] = {}
    for action in command._actions:  # argparse lists no other way to read its options
        if action.dest in _NOT_IN_A_FILE or action.dest == argparse.SUPPRESS:
            continue
        longs = [name for name in action.option_strings if name.startswith("--")]
        if longs:
            found[longs[0][2:]] = action
        elif not action.option_strings:
            found[action.dest] = action
    return found


def _settings(document: dict[str, Any]) -> list[tuple[str, Any, str | None]]:
    """(key, value, table) of each setting: at the top, or one table deep."""
    settings: list[tuple[str, Any, str | None]] = []
    for key, value in document.items():
        if isinstance(value, dict):
            settings += [(inner, item, key) for inner, item in value.items()]
        else:
            settings.append((key, value, None))
    return settings


def _line_of(text: str, key: str, table: str | None) -> int:
    """The line the key is set on (in its table), for the message; 1 if not found."""
    in_table = table is None
    pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            in_table = header.group(1).strip("\"'") == table
        elif in_table and pattern.match(line):
            return number
    return 1


def _value(action: argparse.Action, value: Any, where: str) -> Any:
    """The value as the flag would have given it, checked by the flag's own type (_UNSET for
    a flag that shares its value with others, set false)."""
    if isinstance(action, argparse._StoreConstAction) and not isinstance(
        action, argparse._StoreTrueAction | argparse._StoreFalseAction
    ):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: give true or false, not {value!r}")
        return action.const if value else _UNSET
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: give true or false, not {value!r}")
        return value if isinstance(action, argparse._StoreTrueAction) else not value
    if isinstance(action, argparse._CountAction):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: give a number, not {value!r}")
        return value
    many = isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+")
    if many:
        items = value if isinstance(value, list) else [value]
        return [_one(action, item, where) for item in items]
    if isinstance(value, list | dict):
        raise ConfigError(f"{where}: give one value, not {value!r}")
    return _one(action, value, where)


def _one(action: argparse.Action, value: Any, where: str) -> Any:
    if isinstance(value, dict | list):
        raise ConfigError(f"{where}: give a value, not {value!r}")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        converted = text if action.type is None else action.type(text)  # type: ignore[operator]
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {value!r} is not what it takes ({exc})") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise ConfigError(f"{where}: {value!r} is not one of {choices}")
    return converted


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    # JSON's string escapes are TOML's: quotes, backslashes and control characters.
    return json.dumps(str(value), ensure_ascii=False)
