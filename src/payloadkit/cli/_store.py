"""Store commands: ``ls``, ``show``, ``get``, ``put``, ``verify``, ``runs`` and ``gc``.

Every command takes the store URL first. Storage options for backends that need them
(an S3-compatible endpoint, a region) are given with ``--storage-option KEY=VALUE``;
credentials belong in the environment or the backend's usual files, never on a command
line that other users of the machine can read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from payloadkit._manifest import Manifest
from payloadkit.cli._args import add_storage_options
from payloadkit.cli._output import format_size, print_table, safe
from payloadkit.cli._preview import preview
from payloadkit.cli._progress import progress_callback
from payloadkit.cli._putfile import load_file
from payloadkit.errors import StoreError

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``ls``, ``show``, ``get``, ``put``, ``verify``, ``runs`` and ``gc``."""
    _add_ls(commands)
    _add_show(commands)
    _add_get(commands)
    _add_put(commands)
    _add_verify(commands)
    _add_runs(commands)
    _add_gc(commands)


# -- shared arguments -------------------------------------------------------------
def _age(text: str) -> timedelta:
    from payloadkit._maintenance import parse_age

    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _command(commands: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    parser.add_argument("url", metavar="URL", help="the store: a directory, memory://, s3://...")
    add_storage_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _open(args: argparse.Namespace, *, create: bool = False) -> Any:
    """The store the command names; it must already be a store unless ``create``.

    A location that is not a payloadkit store (no marker) is refused before anything is
    read or changed there.
    """
    import payloadkit as pk

    store = pk.open_store(args.url, **dict(args.storage_option))
    if not create:
        store.require_store()
    return store


def _digest(store: Any, text: str) -> str:
    from payloadkit._maintenance import resolve_digest

    return resolve_digest(store, text)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=1, sort_keys=True, default=str))


# -- ls ---------------------------------------------------------------------------
def _add_ls(commands: Any) -> None:
    parser = _command(
        commands,
        "ls",
        "list the payloads in a store",
        "List the payloads in a store: digest, type, serializer, size and creation time.",
    )
    parser.add_argument("--type", help="only payloads whose type name contains this text")
    parser.add_argument("--serializer", help="only payloads written by this serializer")
    parser.add_argument(
        "--since", type=_age, metavar="AGE", help="only payloads created within AGE (e.g. 7d)"
    )
    parser.set_defaults(handler=_ls)


def _ls(args: argparse.Namespace) -> int:
    since = datetime.now(UTC) - args.since if args.since is not None else None
    manifests = [
        m
        for m in _open(args).manifests()
        if (args.type is None or args.type in m.ref.type)
        and (args.serializer is None or m.ref.serializer == args.serializer)
        and (since is None or m.created_at >= since)
    ]
    if args.json:
        _print_json([m.to_dict() for m in manifests])
        return 0
    rows = [
        [m.ref.digest, m.ref.type, m.ref.serializer, format_size(m.ref.size), m.created[:19]]
        for m in manifests
    ]
    if not rows:
        print(f"No payloads in {args.url}" + (" match." if _filtered(args) else "."))
        return 0
    print_table(["digest", "type", "serializer", "size", "created (UTC)"], rows)
    return 0


def _filtered(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.type, args.serializer, args.since))


# -- show -------------------------------------------------------------------------
def _add_show(commands: Any) -> None:
    parser = _command(
        commands,
        "show",
        "show a payload's manifest and a preview of its value",
        "Show a payload's manifest and, for serializers that cannot run code on load (or "
        "payloads whose signature verifies with the configured key), a short preview.",
    )
    parser.add_argument(
        "digest", metavar="DIGEST", help="the payload's digest, or a unique prefix of it"
    )
    parser.add_argument("--no-preview", action="store_true", help="only the manifest")
    parser.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    store = _open(args)
    manifest = store.info(_digest(store, args.digest))
    text = None if args.no_preview else preview(store, manifest)
    if args.json:
        _print_json({"manifest": manifest.to_dict(), "preview": text})
        return 0
    for key, value in manifest.to_dict().items():
        print(f"{key + ':':<20} {safe(value)}")
    if text is not None:
        print("\n" + text)
    return 0


# -- get --------------------------------------------------------------------------
def _add_get(commands: Any) -> None:
    parser = _command(
        commands,
        "get",
        "copy a payload's stored bytes to a file",
        "Copy a payload's stored bytes, verified against their digest, to a plain file "
        "(a parquet payload becomes a .parquet file that other tools read).",
    )
    parser.add_argument(
        "digest", metavar="DIGEST", help="the payload's digest, or a unique prefix of it"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="where to write; a directory gets <hex><extension>; no suffix adds the stored one",
    )
    parser.set_defaults(handler=_get)


def _get(args: argparse.Namespace) -> int:
    store = _open(args)
    manifest = store.info(_digest(store, args.digest))
    path = _output_path(args.output, manifest)
    with progress_callback(manifest.ref.size, f"get {manifest.ref.digest[:15]}") as callback:
        data = store.read_verified(manifest, callback)
    _write_file(path, data)
    if args.json:
        _print_json({"path": path, "digest": manifest.ref.digest, "size": manifest.ref.size})
    else:
        print(f"{path}  ({format_size(manifest.ref.size)}, {manifest.ref.serializer}, verified)")
    return 0


def _write_file(path: str, data: memoryview) -> None:
    """Write ``data`` to ``path`` whole or not at all (through ``<path>.part``)."""
    tmp = f"{path}.part"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise StoreError(f"Cannot write {path}: {exc.strerror or exc}.") from None


def _output_path(output: str, manifest: Manifest) -> str:
    if os.path.isdir(output):
        return os.path.join(output, manifest.ref.digest.split(":")[1] + manifest.extension)
    if not os.path.splitext(output)[1]:
        return output + manifest.extension
    return output


# -- put --------------------------------------------------------------------------
def _add_put(commands: Any) -> None:
    parser = _command(
        commands,
        "put",
        "store a file's object",
        "Store the object a file holds: .parquet is read with pandas, .npy with numpy, "
        ".arrow/.feather with pyarrow and .json as JSON, each stored in its own format; "
        "any other file is stored as its bytes.",
    )
    parser.add_argument("file", metavar="FILE", help="the file to read")
    parser.add_argument("--serializer", help="store with this serializer instead")
    parser.set_defaults(handler=_put)


def _put(args: argparse.Namespace) -> int:
    obj, serializer = load_file(args.file)
    store = _open(args, create=True)
    with progress_callback(os.path.getsize(args.file), f"put {args.file}") as callback:
        ref = store.put(obj, args.serializer or serializer, callback=callback)
    if args.json:
        _print_json(ref.to_dict())
    else:
        print(f"{ref.digest}  {ref.type} ({ref.serializer}, {format_size(ref.size)})")
    return 0


# -- verify -----------------------------------------------------------------------
def _add_verify(commands: Any) -> None:
    parser = _command(
        commands,
        "verify",
        "check every payload in a store",
        "Re-hash every object and check every manifest (and signature, with a key "
        "configured); report objects without manifest and leftovers of crashed writes. "
        "Exits 1 when anything is wrong.",
    )
    parser.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    from payloadkit._maintenance import verify_store

    report = verify_store(_open(args))
    if args.json:
        _print_json(report.to_dict())
        return 0 if report.ok else 1
    for finding in report.problems:
        print(f"{finding.kind:<15} {safe(finding.key)}\n{'':<15} {safe(finding.message)}")
    for finding in report.in_progress:
        print(f"{'in progress':<15} {safe(finding.key)}")
    for note in report.notes:
        print(f"{'not checked':<15} {safe(note)}")
    verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    layout = "format 1 (payloadkit 0.1.0)" if report.format == 1 else f"format {report.format}"
    print(
        f"{report.payloads} payloads, {format_size(report.bytes)} checked in {report.url} "
        f"({layout}): {verdict}"
    )
    return 0 if report.ok else 1


# -- runs -------------------------------------------------------------------------
def _add_runs(commands: Any) -> None:
    parser = _command(
        commands,
        "runs",
        "list App runs, or show one",
        "List the run records App runs wrote to a store, most recent first; with a run id, "
        "show that run and the final state of each Work.",
    )
    parser.add_argument("run_id", metavar="RUN_ID", nargs="?", help="the run to show")
    parser.set_defaults(handler=_runs)


def _runs(args: argparse.Namespace) -> int:
    from payloadkit._gc import run_records
    from payloadkit._maintenance import RUNS

    store = _open(args)
    if args.run_id is not None:
        return _show_run(store.get_record(RUNS, args.run_id), args.json)
    damaged: list[str] = []
    records = run_records(store, damaged)
    for name in damaged:
        print(f"payloadkit: skipped the damaged run record {safe(name)!r}", file=sys.stderr)
    if args.json:
        _print_json(records)
        return 0
    if not records:
        print(f"No runs recorded in {args.url}.")
        return 0
    rows = [
        [
            r["run_id"],
            r.get("app", "?"),
            r.get("executor", "?"),
            str(r.get("started", "?"))[:19],
            r.get("outcome", "?"),
            _count(r.get("works")),
            _count(r.get("payloads")),
        ]
        for r in records
    ]
    print_table(["run", "app", "executor", "started (UTC)", "outcome", "works", "payloads"], rows)
    return 0


def _count(value: Any) -> int | str:
    return len(value) if isinstance(value, dict | list) else "?"


def _show_run(record: dict[str, Any], as_json: bool) -> int:
    if as_json:
        _print_json(record)
        return 0
    for key in ("run_id", "app", "executor", "started", "ended", "outcome", "error"):
        print(f"{key + ':':<10} {safe(record.get(key))}")
    works = record.get("works")
    rows = [
        [name, work.get("status", "?"), work.get("calls", "?"), _state_summary(work.get("state"))]
        for name, work in sorted(works.items() if isinstance(works, dict) else [])
        if isinstance(work, dict)
    ]
    print()
    print_table(["work", "status", "calls", "state"], rows)
    return 0


def _state_summary(state: Any) -> str:
    if not isinstance(state, dict):
        return "-"
    parts = []
    for key, value in sorted(state.items()):
        if isinstance(value, dict) and value.get("kind") == "payloadkit.Payload":
            ref = value.get("ref", {})
            parts.append(f"{key}=<{ref.get('type')} {str(ref.get('digest'))[:15]}>")
        else:
            parts.append(f"{key}={json.dumps(value)[:40]}")
    return ", ".join(parts) or "-"


# -- gc ---------------------------------------------------------------------------
def _add_gc(commands: Any) -> None:
    parser = _command(
        commands,
        "gc",
        "remove unreferenced payloads and leftovers",
        "Remove payloads that no kept run references and that are older than the cutoff, "
        "old run records, and leftovers of crashed writes. Kept: the N most recent runs, "
        "runs started after the cutoff, and anything saved while gc runs.",
    )
    parser.add_argument("--keep-runs", type=int, default=10, metavar="N", help="default 10")
    parser.add_argument(
        "--older-than", type=_age, default=timedelta(days=30), metavar="AGE", help="default 30d"
    )
    parser.add_argument("--dry-run", action="store_true", help="only list what would go")
    parser.set_defaults(handler=_gc)


def _gc(args: argparse.Namespace) -> int:
    from payloadkit._gc import collect_garbage

    if args.keep_runs < 0:
        print("payloadkit gc: error: --keep-runs must not be negative", file=sys.stderr)
        return 2
    report = collect_garbage(
        _open(args), keep_runs=args.keep_runs, older_than=args.older_than, dry_run=args.dry_run
    )
    if args.json:
        _print_json(report.to_dict())
        return 0
    verb = "would remove" if report.dry_run else "removed"
    for finding in report.removed:
        print(f"{verb}  {finding.kind:<8} {safe(finding.key)}  {format_size(finding.size)}")
    for run_id in report.removed_runs:
        print(f"{verb}  run      {safe(run_id)}")
    for finding in report.spared:
        print(f"kept     {finding.kind:<8} {safe(finding.key)}  (saved or referenced meanwhile)")
    for note in report.notes:
        print(f"note     {safe(note)}")
    print(
        f"{verb} {len(report.removed)} item(s), {len(report.removed_runs)} run record(s): "
        f"{format_size(report.bytes_freed)} freed; kept {len(report.kept_runs)} run(s), what "
        f"they reference, and every payload saved after {report.payload_cutoff}"
    )
    if report.payload_cutoff != report.cutoff:
        print(
            "(payloads saved within the store's grace period always stay: a run may be using them)"
        )
    return 0
