"""shoal cp's two directions: local files as a tar stream in bounded chunks, and back."""
from __future__ import annotations

import io
import os
import queue
import sys
import tarfile
import threading
from typing import Iterator

import click
import grpc

from shoal.cli.verb_text import CopyArgs, is_dir, renamed, unsafe_member
from shoal.protos.limits import ARCHIVE_CHUNK_BYTES
from shoal.protos.shoal.v1 import manager_pb2, types_pb2

COPY_TIMEOUT = 3600.0
STAT_TIMEOUT = 30.0
_END = object()


class _ChunkReader(io.RawIOBase):
    """The gRPC stream's chunks as a file tarfile reads in stream mode ("r|"): one chunk held."""
    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._buf = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buf = chunk
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        return n


class _QueueWriter(io.RawIOBase):
    """tarfile's output, cut into ARCHIVE_CHUNK_BYTES pieces handed to the sending generator; the
    queue holds two, so reading the files waits for the network (back-pressure)."""
    def __init__(self, q: queue.Queue):
        self._q, self._buf = q, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self._buf += b
        while len(self._buf) >= ARCHIVE_CHUNK_BYTES:
            self._q.put(bytes(self._buf[:ARCHIVE_CHUNK_BYTES]))
            del self._buf[:ARCHIVE_CHUNK_BYTES]
        return len(b)

    def flush_rest(self) -> None:
        if self._buf:
            self._q.put(bytes(self._buf))
            self._buf.clear()


def _tar_in_thread(src: str, arcname: str) -> Iterator[bytes]:
    q: queue.Queue = queue.Queue(maxsize=2)

    def produce() -> None:
        try:
            writer = _QueueWriter(q)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                tar.add(src, arcname=arcname)
            writer.flush_rest()
            q.put(_END)
        except BaseException as exc:   # handed to the sender, raised there
            q.put(exc)

    threading.Thread(target=produce, daemon=True, name="cp-tar").start()
    while True:
        item = q.get()
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise click.ClickException(f"cp: {item}")
        yield item


def _stdin_chunks() -> Iterator[bytes]:
    while chunk := sys.stdin.buffer.read(ARCHIVE_CHUNK_BYTES):
        yield chunk


def _stat(stub, ref: str, path: str) -> types_pb2.PathStat | None:
    """The container path's stat (the first message of CopyFrom; the rest is not read), None if absent."""
    call = stub.CopyFrom(manager_pb2.CopyFromRequest(ref=ref, path=path), timeout=STAT_TIMEOUT)
    try:
        first = next(call)
        return first.stat
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND and "no such container" not in (exc.details() or "").lower():
            return None
        raise
    finally:
        call.cancel()


def copy_to(stub, args: CopyArgs, copy_uid_gid: bool) -> None:
    if args.local == "-":
        # A tar on stdin, extracted as it is into the container's directory (as docker cp - does).
        target, chunks = args.container_path, _stdin_chunks()
    else:
        if not os.path.lexists(args.local):
            raise click.ClickException(f'cp: "{args.local}": no such file or directory')
        dest = _stat(stub, args.container, args.container_path)
        base = os.path.basename(os.path.normpath(args.local))
        if dest is not None and is_dir(dest.mode):
            target, root = args.container_path, base
        else:
            if dest is not None and os.path.isdir(args.local):
                raise click.ClickException(f'cp: cannot copy a directory onto the file "{args.container_path}"')
            target = os.path.dirname(args.container_path.rstrip("/")) or "/"
            root = os.path.basename(args.container_path.rstrip("/"))
        chunks = _tar_in_thread(args.local, root)

    def requests():
        yield manager_pb2.CopyIn(to=manager_pb2.CopyTarget(ref=args.container, path=target, copy_uid_gid=copy_uid_gid))
        for chunk in chunks:
            yield manager_pb2.CopyIn(chunk=types_pb2.ArchiveChunk(data=chunk))

    stub.CopyTo(requests(), timeout=COPY_TIMEOUT)


def copy_from(stub, args: CopyArgs) -> None:
    call = stub.CopyFrom(manager_pb2.CopyFromRequest(ref=args.container, path=args.container_path),
                         timeout=COPY_TIMEOUT)
    try:
        stat = next(call).stat
        chunks = (msg.chunk.data for msg in call)
        if args.local == "-":
            out = sys.stdout.buffer
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            return
        if os.path.isdir(args.local):
            into, root = args.local, stat.name
        else:
            into = os.path.dirname(os.path.abspath(args.local))
            root = os.path.basename(os.path.normpath(args.local))
            if not os.path.isdir(into):
                raise click.ClickException(f'cp: "{into}": no such directory')
        _extract(chunks, into, stat.name, root)
    finally:
        call.cancel()


def _extract(chunks: Iterator[bytes], into: str, old_root: str, new_root: str) -> None:
    reader = io.BufferedReader(_ChunkReader(chunks), buffer_size=ARCHIVE_CHUNK_BYTES)
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        for member in tar:
            member.name = renamed(member.name, old_root, new_root)
            if member.islnk():
                member.linkname = renamed(member.linkname, old_root, new_root)
            why = unsafe_member(member.name) or (unsafe_member(member.linkname) if member.islnk() else "")
            if why:
                raise click.ClickException(f"cp: refused: the archive's {why}")
            tar.extract(member, path=into, set_attrs=True)
