"""A download's SHA-256, computed on a thread of its own while the download thread reads and writes.

Hashing in the thread that reads the socket and writes the file adds the hash's time to the
download's: SHA-256 takes about 0.6 s of CPU per GiB here, as long as the rest of the work on a
1 GiB file from a fast mirror (BENCHMARKS.md, issue 13). hashlib releases the GIL while it hashes
a buffer of 2 KiB or more, so a second thread hashes while the first waits on the network and
the disk. The bytes are still hashed in order, each exactly once, and the digest is only known
once every byte handed over has been hashed; memory stays flat: at most `QUEUE_CHUNKS` chunks
wait for the hash thread, and `update` blocks while they do.
"""

from __future__ import annotations

import hashlib
import queue
import threading

# Chunks handed over and not yet hashed, at most (with 1 MiB chunks: 4 MiB).
QUEUE_CHUNKS = 4
_END = b""


class StreamDigest:
    """SHA-256 of the bytes given to `update`, in order, hashed on a thread started on the first
    non-empty update. `digest`: a hashlib SHA-256 that already holds a prefix (a resumed file).

    `update` keeps `bytes` as they are and copies anything else (the thread reads them later, so
    they must not change meanwhile). `hexdigest()` waits for every byte handed over. `close()`
    (also after a failed download: no thread is left waiting) ends the updates; `update` after
    it is an error. An error in the thread is raised by the next `update` or by `hexdigest()`.
    """

    def __init__(self, digest: hashlib._Hash | None = None) -> None:
        self._digest = digest if digest is not None else hashlib.sha256()
        self._queue: queue.Queue[bytes] = queue.Queue(QUEUE_CHUNKS)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._result: str | None = None
        self._closed = False

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ValueError("update after hexdigest() or close()")
        self._raise_failure()
        if not len(data):
            return
        if not isinstance(data, bytes):
            data = bytes(data)  # a buffer the caller may reuse
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pxeimport-sha256", daemon=True)
            self._thread.start()
        self._queue.put(data)

    def hexdigest(self) -> str:
        """The SHA-256 of everything given, once the thread has hashed it all."""
        if self._result is None:
            self.close()
            self._raise_failure()
            self._result = self._digest.hexdigest()
        return self._result

    def close(self) -> None:
        """No more updates: the thread hashes what waits (at most QUEUE_CHUNKS chunks) and stops.
        Idempotent; `hexdigest()` still answers afterwards."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(_END)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            if not data:
                return
            if self._failure is None:
                try:
                    self._digest.update(data)
                except BaseException as exc:  # kept for the caller's thread; keep draining
                    self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
