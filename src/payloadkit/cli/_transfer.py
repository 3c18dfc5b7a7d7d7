"""``payloadkit put`` and ``payloadkit get``: files into a store and back, byte for byte.

``put`` stores a file's bytes as they are (the ``file`` serializer, under the file's own
suffix), streaming, so any size fits in a few megabytes of memory; ``--as-object`` reads
the file into the object it holds (a DataFrame, an array) and stores that instead. ``get``
writes a payload's stored bytes, verified, to a file (through a temporary file renamed into
place) or to standard output with ``-o -``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from payloadkit._manifest import Manifest
from payloadkit.cli._common import (
    add_full,
    add_store_command,
    manifests_named,
    open_store,
    print_json,
    short_digest,
)
from payloadkit.cli._output import format_size, safe
from payloadkit.cli._progress import progress_callback
from payloadkit.errors import ConfigurationError, StoreError

__all__ = ["add_commands"]

_PICKLES = frozenset({"pickle", "cloudpickle", "dill"})


def add_commands(commands: Any) -> None:
    """Add ``get`` and ``put``."""
    _add_get(commands)
    _add_put(commands)


# -- get --------------------------------------------------------------------------
def _add_get(commands: Any) -> None:
    parser = add_store_command(
        commands,
        "get",
        "write a payload's stored bytes to a file",
        "Write a payload's stored bytes, verified against their digest, to a file: a file "
        "stored with `put` comes back byte for byte, a parquet payload is a .parquet file "
        "that other tools read. The file appears only once it is whole and verified.",
    )
    parser.add_argument(
        "digest", metavar="DIGEST", help="the payload's digest, or a unique prefix of it"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="where to write: a file (no suffix adds the stored one), a directory (ending in "
        "/ creates it) which gets <digest><suffix>, or - for standard output",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="for a pickle payload stored in payloadkit's container (.pkf), write an "
        "ordinary pickle that pickle.load reads (nothing is unpickled to do so)",
    )
    parser.set_defaults(handler=_get)


def _get(args: argparse.Namespace) -> int:
    store = open_store(args)
    manifest = manifests_named(store, args.digest)[0]  # those sharing bytes have the same
    container = manifest.ref.serializer in _PICKLES and _is_container(store, manifest)
    if args.plain and not container and manifest.ref.serializer not in _PICKLES:
        raise ConfigurationError(
            f"--plain applies to pickle payloads; {manifest.ref.digest} is "
            f"{manifest.ref.serializer}, whose file other tools read as it is."
        )
    compressed = manifest.compression is not None and manifest.compression.scope == "object"
    plain = args.plain and (container or (compressed and manifest.ref.serializer in _PICKLES))
    if args.output == "-":
        _write_stdout(store, manifest, plain)
        return 0
    suffix = ".pkl" if plain else _CONTAINER if container else manifest.extension
    path = _output_path(args.output, manifest.ref.digest, suffix)
    with progress_callback(manifest.ref.size, f"get {_name(path)}") as callback:
        _write_path(store, manifest, path, plain, callback)
    if args.json:
        print_json({"path": path, "digest": manifest.ref.digest, "size": manifest.ref.size})
    else:
        kind = "plain pickle" if plain else manifest.ref.serializer
        print(f"{safe(path)}  ({format_size(os.path.getsize(path))}, {kind}, verified)")
    return 0


_CONTAINER = ".pkf"


def _is_container(store: Any, manifest: Manifest) -> bool:
    from payloadkit._container import MAGIC, MAGIC_COMPRESSED

    head = store.backend.read_range(manifest.object_key, 0, len(MAGIC))
    return head in (MAGIC, MAGIC_COMPRESSED)


def _write_path(store: Any, manifest: Manifest, path: str, plain: bool, callback: Any) -> None:
    from payloadkit.stores._files import write_file_verified

    try:
        if plain:
            _write_plain(store, manifest, path, callback)
        else:
            write_file_verified(store, manifest, path, callback)
    except OSError as exc:
        raise StoreError(f"Cannot write {path}: {exc.strerror or exc}.") from None


def _write_plain(store: Any, manifest: Manifest, path: str, callback: Any) -> None:
    """Convert the verified container to a plain pickle at ``path`` (temporary file first)."""
    from payloadkit.stores._files import write_beside

    pieces = _plain_pieces(store, manifest, callback)
    write_beside(path, lambda out: out.writelines(pieces))


def _plain_pieces(store: Any, manifest: Manifest, callback: Any) -> Any:
    """The pieces of a plain pickle of the payload: verified, decompressed, buffers in-band."""
    from payloadkit import _compression
    from payloadkit._serializers._pickle import plain_pickle

    data = store.read_verified(manifest, callback)
    return plain_pickle(_compression.undo(manifest.compression, data))


def _write_stdout(store: Any, manifest: Manifest, plain: bool) -> None:
    """Stream the bytes to standard output; a digest mismatch fails after the last chunk."""
    from payloadkit.stores._files import copy_chunks

    sys.stdout.flush()
    out = sys.stdout.buffer
    with progress_callback(manifest.ref.size, f"get {short_digest(manifest.ref.digest)}") as cb:
        if plain:
            for piece in _plain_pieces(store, manifest, cb):
                out.write(piece)
        else:
            copy_chunks(store, manifest, out, cb)
    out.flush()


def _output_path(output: str, digest: str, suffix: str) -> str:
    """Where ``-o`` says to write; a directory ending in / is created, others must exist."""
    if output.endswith(("/", os.sep)) or os.path.isdir(output):
        try:
            os.makedirs(output, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the directory {output}: {exc.strerror}.") from None
        return os.path.join(output, digest.partition(":")[2] + suffix)
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise StoreError(
            f"Cannot write {output}: the directory {os.path.dirname(output) or '.'} does not "
            "exist. Create it, or give -o a directory ending in / to have it created."
        )
    return output if os.path.splitext(output)[1] else output + suffix


def _name(path: str) -> str:
    return os.path.basename(path) or path


# -- put --------------------------------------------------------------------------
def _add_put(commands: Any) -> None:
    parser = add_store_command(
        commands,
        "put",
        "store a file (its bytes as they are, or the object it holds)",
        "Store a file's bytes exactly as they are, under the file's suffix, streaming (any "
        "size, little memory); `get` writes them back byte for byte. With --as-object the "
        "file is read into the object it holds (.parquet/.csv with pandas, .npy with numpy, "
        ".arrow/.feather with pyarrow, .json as JSON) and that object is stored.",
    )
    parser.add_argument("file", metavar="FILE", help="the file to store")
    parser.add_argument(
        "--as-object",
        action="store_true",
        help="store the object the file holds (a DataFrame, an array...) instead of its bytes",
    )
    parser.add_argument(
        "--serializer", help="store the object with this serializer (implies --as-object)"
    )
    parser.add_argument(
        "--compression",
        choices=["auto", "zstd", "lz4", "none"],
        help="compress the stored object (implies --as-object; default: the configuration, "
        "then the serializer's own choice: auto for pickle and json, none for the others)",
    )
    add_full(parser)
    parser.set_defaults(handler=_put)


def _put(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.file):
        raise StoreError(f"Cannot read {args.file}: it is not a file (or does not exist).")
    store = open_store(args, create=True)
    size = os.path.getsize(args.file)
    label = _name(args.file)
    with progress_callback(size, f"put {label}") as callback:
        if args.as_object or args.serializer not in (None, "file") or args.compression:
            ref = _put_object(store, args, callback)
        else:
            ref = _put_bytes(store, args.file, callback, label)
    if args.json:
        print_json(ref.to_dict())
    else:
        print(
            f"{short_digest(ref.digest, args.full)}  {safe(args.file)}  "
            f"({ref.serializer}, {format_size(ref.size)})"
        )
    return 0


def _put_bytes(store: Any, path: str, callback: Any, label: str) -> Any:
    from payloadkit.stores._files import put_file

    if not store.backend.remote:
        return put_file(store, path, callback)
    with progress_callback(os.path.getsize(path), f"upload {label}") as upload:
        return put_file(store, path, callback, upload)


def _put_object(store: Any, args: argparse.Namespace, callback: Any) -> Any:
    from payloadkit.cli._putfile import load_file

    obj, serializer = load_file(args.file)
    chosen = args.serializer or serializer
    if args.compression is None:
        return store.put(obj, chosen, callback=callback)
    codec = None if args.compression == "none" else args.compression
    return store.put(obj, chosen, compression=codec, callback=callback)
