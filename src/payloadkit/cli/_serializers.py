"""``payloadkit serializers`` (what is registered, and where it came from) and
``payloadkit explain`` (which serializer an object gets, and why)."""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib
import importlib.util
import json
import os
import textwrap
from collections.abc import Callable
from typing import Any

from payloadkit.cli._output import print_table
from payloadkit.errors import ConfigurationError

__all__ = ["add_commands"]

#: Names an expression may use without importing them.
ALIASES = {"pd": "pandas", "np": "numpy", "pa": "pyarrow", "pl": "polars"}


def add_commands(commands: Any) -> None:
    """Add ``serializers`` and ``explain``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serializers",
        help="list the serializers payloadkit knows",
        description="List every serializer: name, version, types, origin (builtin, plugin "
        "and its distribution, or user), whether loading can run code, and status: ok, "
        "needs EXTRA (a library it uses is not installed; found without importing it), "
        "error (with the plugin's error) or disabled.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--full", action="store_true", help="qualified type names and whole error messages"
    )
    parser.set_defaults(handler=_serializers)
    _add_explain(commands)


def _add_explain(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "explain",
        help="say which serializer an object would be saved with, and why",
        description=textwrap.fill(
            "Say which serializer an object would be saved with, and why. The object is a "
            "Python expression (evaluated like `python -c`; pd, np, pa, pl and any module "
            "named in it are imported for it) or a file read by its suffix.",
            78,
        ),
        epilog="examples:\n  payloadkit explain \"pd.DataFrame({'a': [1]})\"\n"
        "  payloadkit explain --file data.parquet\n"
        "  payloadkit explain --serializer json '(1, 2)'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("expr", nargs="?", metavar="EXPR", help="a Python expression")
    source.add_argument(
        "--file",
        metavar="PATH",
        help="explain the object read from PATH: .parquet (pandas), .arrow/.feather "
        "(pyarrow), .npy (numpy, no pickles), .json, .csv (pandas); any other file is "
        "unpickled only with --trust",
    )
    parser.add_argument(
        "--trust",
        action="store_true",
        help="allow --file to unpickle a file of another suffix (runs the code it holds)",
    )
    parser.add_argument("--serializer", metavar="NAME", help="explain this serializer's choice")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=_explain)


def _serializers(args: argparse.Namespace) -> int:
    import payloadkit as pk

    infos = pk.serializers()
    if args.json:
        print(json.dumps([{**i.__dict__, "available": i.available} for i in infos], indent=1))
        return 0
    rows = [
        [
            i.name,
            i.version,
            ", ".join(_type_names(i.types, args.full)) or "-",
            i.origin + (f" ({i.distribution})" if i.origin == "plugin" else ""),
            "-" if i.status != "ok" else ("yes" if i.runs_code_on_load else "no"),
            _status(i, args.full),
        ]
        for i in infos
    ]
    print_table(["name", "version", "types", "origin", "runs code", "status"], rows)
    hints = sorted({i.install for i in infos if i.install and i.status == "ok"})
    if hints:
        print("\nTo use the serializers marked 'needs': " + "; ".join(hints))
    return 0


def _type_names(types: tuple[str, ...], full: bool) -> list[str]:
    """``pandas.DataFrame`` as ``DataFrame`` unless ``full``."""
    return list(types) if full else [t.rsplit(".", 1)[-1] for t in types]


def _status(info: Any, full: bool) -> str:
    if info.status == "ok":
        if info.missing:
            extra = info.install.partition("[")[2].partition("]")[0] if info.install else ""
            return f"needs {extra or ', '.join(info.missing)}"
        return "ok"
    text = f"{info.status}: {info.error or ''}"
    return text if full or len(text) <= 60 else text[:57] + "..."


def _explain(args: argparse.Namespace) -> int:
    import payloadkit as pk

    obj = _read_file(args.file, args.trust) if args.file else _evaluate(args.expr)
    explanation = pk.explain(obj, args.serializer)
    if args.json:
        print(json.dumps(_explanation_dict(explanation), indent=1))
    else:
        print(explanation)
    return 0 if explanation.serializer is not None else 1


def _explanation_dict(explanation: Any) -> dict[str, Any]:
    import payloadkit as pk

    chosen = [i for i in pk.serializers() if i.name == explanation.serializer and i.status == "ok"]
    return {
        "type": explanation.type_name,
        "serializer": explanation.serializer,
        "reason": explanation.reason,
        "tried": [{"serializer": name, "error": why} for name, why in explanation.tried],
        "origin": chosen[0].origin if chosen else None,
        "distribution": chosen[0].distribution if chosen else None,
        "runs_code_on_load": chosen[0].runs_code_on_load if chosen else None,
    }


def _evaluate(expr: str) -> Any:
    """Evaluate ``expr`` with the aliases and the modules it names imported."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ConfigurationError(f"EXPR is not a Python expression: {exc.msg}: {expr!r}") from None
    namespace: dict[str, Any] = {"__builtins__": builtins}
    for name in sorted(_free_names(tree) - set(dir(builtins))):
        module = ALIASES.get(name, name)
        if importlib.util.find_spec(module) is not None:
            namespace[name] = importlib.import_module(module)
    try:
        return eval(compile(tree, "<EXPR>", "eval"), namespace)
    except Exception as exc:
        raise ConfigurationError(
            f"Evaluating EXPR failed: {type(exc).__name__}: {exc}. Check the expression "
            f"(available without import: {', '.join(sorted(ALIASES))} and any module by name)."
        ) from None


def _free_names(tree: ast.AST) -> set[str]:
    """Names the expression reads but does not bind (lambda arguments, loop targets)."""
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loaded - bound


def _read_file(path: str, trust: bool) -> Any:
    """The object ``path`` holds, read by its suffix; pickles only when trusted."""
    suffix = os.path.splitext(path)[1].lower()
    reader = _READERS.get(suffix)
    if reader is None and not trust:
        raise ConfigurationError(
            f"payloadkit explain reads {', '.join(sorted(_READERS))} files; {path!r} would "
            "have to be unpickled, which runs the code it holds. Pass --trust if you trust it."
        )
    try:
        return reader(path) if reader is not None else _unpickle(path)
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {path!r}: {exc.strerror or exc}.") from None
    except ImportError as exc:
        raise ConfigurationError(
            f"Reading {path!r} needs a package that is not installed: {exc}."
        ) from None
    except Exception as exc:
        raise ConfigurationError(
            f"Cannot read {path!r} as a {suffix or 'pickle'} file: {type(exc).__name__}: {exc}."
        ) from None


def _unpickle(path: str) -> Any:
    import pickle

    with open(path, "rb") as f:
        return pickle.load(f)  # only with --trust, as the help says


def _read_parquet(path: str) -> Any:
    return importlib.import_module("pandas").read_parquet(path)


def _read_arrow(path: str) -> Any:
    return importlib.import_module("pyarrow.feather").read_table(path)


def _read_npy(path: str) -> Any:
    return importlib.import_module("numpy").load(path, allow_pickle=False)


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_csv(path: str) -> Any:
    return importlib.import_module("pandas").read_csv(path)


_READERS: dict[str, Callable[[str], Any]] = {
    ".parquet": _read_parquet,
    ".arrow": _read_arrow,
    ".feather": _read_arrow,
    ".npy": _read_npy,
    ".json": _read_json,
    ".csv": _read_csv,
}
