"""Store commands: ``ls``, ``show``, ``rm``, ``verify``, ``runs`` and ``gc``.

Every command takes the store URL first; without it, the store is ``$PAYLOADKIT_STORAGE``
or ``./.payloadkit`` when that exists (``get`` and ``put`` are in `._transfer`). Storage options for backends that need them
(an S3-compatible endpoint, a region) are given with ``--storage-option KEY=VALUE``;
credentials belong in the environment or the backend's usual files, never on a command
line that other users of the machine can read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from payloadkit._manifest import Manifest
from payloadkit.cli._common import (
    add_full,
    add_store_command,
    default_url,
    manifests_named,
    open_store,
    print_json,
    short_digest,
    short_type,
)
from payloadkit.cli._output import format_size, print_table, safe
from payloadkit.cli._preview import preview
from payloadkit.errors import PayloadNotFoundError

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``ls``, ``show``, ``rm``, ``verify``, ``runs`` and ``gc``."""
    _add_ls(commands)
    _add_show(commands)
    _add_rm(commands)
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


# -- ls ---------------------------------------------------------------------------
def _add_ls(commands: Any) -> None:
    parser = add_store_command(
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
    add_full(parser)
    parser.set_defaults(handler=_ls)


def _ls(args: argparse.Namespace) -> int:
    since = datetime.now(UTC) - args.since if args.since is not None else None
    manifests = [
        m
        for m in open_store(args).manifests()
        if (args.type is None or args.type in m.ref.type)
        and (args.serializer is None or m.ref.serializer == args.serializer)
        and (since is None or m.created_at >= since)
    ]
    if args.json:
        print_json([m.to_dict() for m in manifests])
        return 0
    rows = [
        [
            short_digest(m.ref.digest, args.full),
            short_type(m.ref.type, args.full),
            m.ref.serializer,
            format_size(m.ref.size),
            _created(m),
        ]
        for m in manifests
    ]
    if not rows:
        print(f"No payloads in {args.url}" + (" match." if _filtered(args) else "."))
        return 0
    print_table(["digest", "type", "serializer", "size", "created (UTC)"], rows)
    return 0


def _created(manifest: Manifest) -> str:
    """Creation time as tables show it: ``2024-05-01 12:30`` (UTC)."""
    return manifest.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _filtered(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.type, args.serializer, args.since))


# -- show -------------------------------------------------------------------------
def _add_show(commands: Any) -> None:
    parser = add_store_command(
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
    store = open_store(args)
    manifests = manifests_named(store, args.digest)
    texts = [None if args.no_preview else preview(store, m) for m in manifests]
    if args.json:
        shown = [
            {"manifest": m.to_dict(), "preview": t} for m, t in zip(manifests, texts, strict=True)
        ]
        print_json(shown[0] if len(shown) == 1 else shown)
        return 0
    for i, (manifest, text) in enumerate(zip(manifests, texts, strict=True)):
        if i:
            print("\n(the same bytes, stored as another payload)")
        for key, value in _manifest_lines(manifest):
            print(f"{key + ':':<20} {safe(value)}")
        if text is not None:
            print("\n" + text)
    return 0


def _manifest_lines(manifest: Manifest) -> list[tuple[str, object]]:
    """The manifest's fields as ``show`` prints them: sizes and times as ``ls`` shows them."""
    ref = manifest.ref
    libraries = ", ".join(f"{k} {v}" for k, v in sorted(manifest.libraries.items()))
    lines: list[tuple[str, object]] = [
        ("digest", ref.digest),
        ("type", ref.type),
        ("serializer", f"{ref.serializer} (version {ref.serializer_version})"),
        ("size", f"{format_size(ref.size)} ({ref.size:,} bytes)"),
        ("created (UTC)", manifest.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")),
        ("extension", manifest.extension or "-"),
        ("python", manifest.python),
        ("libraries", libraries or "-"),
    ]
    if manifest.distribution:
        lines.append(("distribution", manifest.distribution))
    lines.append(("signed", "yes" if manifest.signature else "no"))
    return lines


# -- rm ---------------------------------------------------------------------------
def _add_rm(commands: Any) -> None:
    parser = add_store_command(
        commands,
        "rm",
        "remove one payload (lists it first; --yes removes)",
        "Remove the payload a digest names: its manifest, and its bytes unless another "
        "payload shares them. Without --yes, only list what would be removed.",
    )
    parser.add_argument(
        "digest", metavar="DIGEST", help="the payload's digest, or a unique prefix of it"
    )
    parser.add_argument("--yes", action="store_true", help="remove it (default: only list)")
    add_full(parser)
    parser.set_defaults(handler=_rm)


def _rm(args: argparse.Namespace) -> int:
    store = open_store(args)
    manifests = manifests_named(store, args.digest)
    digest = manifests[0].ref.digest
    if args.yes:
        store.delete(digest)
    if args.json:
        print_json({"removed": args.yes, "payloads": [m.to_dict() for m in manifests]})
        return 0
    verb = "removed" if args.yes else "would remove"
    for m in manifests:
        print(
            f"{verb}  {short_digest(digest, args.full)}  {short_type(m.ref.type, args.full)}  "
            f"{m.ref.serializer}  {format_size(m.ref.size)}"
        )
    if not args.yes:
        print("(nothing removed: run again with --yes to remove it)")
    return 0


# -- verify -----------------------------------------------------------------------
def _add_verify(commands: Any) -> None:
    parser = add_store_command(
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

    report = verify_store(open_store(args))
    if args.json:
        print_json(report.to_dict())
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
    parser = add_store_command(
        commands,
        "runs",
        "list App runs, or show one",
        "List the run records App runs wrote to a store, most recent first; with a run id, "
        "show that run and the final state of each Work.",
    )
    parser.add_argument(
        "run_id",
        metavar="RUN_ID",
        nargs="?",
        help="the run to show: its id, a unique prefix of it, or latest",
    )
    parser.set_defaults(handler=_runs)


def _runs(args: argparse.Namespace) -> int:
    from payloadkit._gc import run_records
    from payloadkit._maintenance import RUNS

    if args.run_id is None and args.url and _looks_like_run_id(args.url):
        args.url, args.run_id = None, args.url  # `payloadkit runs RUN_ID` in the default store
    store = open_store(args)
    if args.run_id is not None:
        return _show_run(store.get_record(RUNS, _run_id(store, args.run_id)), args.json)
    damaged: list[str] = []
    records = run_records(store, damaged)
    for name in damaged:
        print(f"payloadkit: skipped the damaged run record {safe(name)!r}", file=sys.stderr)
    if args.json:
        print_json(records)
        return 0
    if not records:
        print(f"No runs recorded in {args.url}.")
        return 0
    rows = [
        [
            r["run_id"],
            r.get("app", "?"),
            str(r.get("started", "?"))[:16].replace("T", " "),
            r.get("outcome", "?"),
            _count(r.get("works")),
            _count(r.get("payloads")),
        ]
        for r in records
    ]
    print_table(["run", "app", "started (UTC)", "outcome", "works", "payloads"], rows)
    return 0


def _looks_like_run_id(text: str) -> bool:
    """True when a lone argument of ``runs`` is a run id, not a store (none exists by that
    name and a default store does)."""
    return "://" not in text and not os.path.exists(text) and default_url() is not None


def _run_id(store: Any, text: str) -> str:
    """The run id ``text`` names: the id itself or a unique prefix of one."""
    from payloadkit._maintenance import RUNS

    names: list[str] = store.list_records(RUNS)
    if text in names:
        return text
    if text == "latest" and names:
        return max(names)  # run ids start with their UTC start time
    matches = [name for name in names if name.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise PayloadNotFoundError(
            f"No run in {store.url} has an id starting with {text!r}; `payloadkit runs` lists "
            "them.",
            store=store.url,
        )
    raise PayloadNotFoundError(
        f"{text!r} matches {len(matches)} runs in {store.url} ({', '.join(matches[:3])}...). "
        "Give more of the id.",
        store=store.url,
    )


def _count(value: Any) -> int | str:
    return len(value) if isinstance(value, dict | list) else "?"


def _show_run(record: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print_json(record)
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
            digest = short_digest(str(ref.get("digest")))
            parts.append(f"{key}=<{short_type(str(ref.get('type')))} {digest}>")
        else:
            parts.append(f"{key}={json.dumps(value)[:40]}")
    return ", ".join(parts) or "-"


# -- gc ---------------------------------------------------------------------------
def _add_gc(commands: Any) -> None:
    parser = add_store_command(
        commands,
        "gc",
        "remove unreferenced payloads and leftovers",
        "Remove payloads that no kept run references and that are older than the cutoff, "
        "old run records, and leftovers of crashed writes. Kept: the N most recent runs, "
        "runs started after the cutoff, and anything saved while gc runs.",
    )
    parser.add_argument("--keep-runs", type=int, default=10, metavar="N", help="default 10")
    parser.add_argument(
        "--keep-history",
        type=int,
        default=1,
        metavar="N",
        help="keep the payloads of each name's N newest changes (default 1: what it points at)",
    )
    parser.add_argument(
        "--older-than", type=_age, default=timedelta(days=30), metavar="AGE", help="default 30d"
    )
    parser.add_argument("--dry-run", action="store_true", help="only list what would go")
    parser.set_defaults(handler=_gc)


def _gc(args: argparse.Namespace) -> int:
    from payloadkit._gc import collect_garbage

    if args.keep_runs < 0 or args.keep_history < 0:
        print(
            "payloadkit gc: error: --keep-runs and --keep-history must not be negative",
            file=sys.stderr,
        )
        return 2
    report = collect_garbage(
        open_store(args),
        keep_runs=args.keep_runs,
        keep_history=args.keep_history,
        older_than=args.older_than,
        dry_run=args.dry_run,
    )
    if args.json:
        print_json(report.to_dict())
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
