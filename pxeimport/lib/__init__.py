"""Small helpers every package may use, with no words of the domain: files written so no reader sees half of
one (the one atomic-write helper), a stream's SHA-256 on its own thread, hashes remembered, safe names,
compute-once caches, passwords out of URLs, and the commands' exit statuses.

Imports: the standard library and nothing of pxeimport's. Django: never.
"""

from __future__ import annotations

from pxeimport.lib.exits import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, signal_exit
from pxeimport.lib.files import (
    BLOCK_SIZE,
    DEBRIS_RE,
    FILE_MODE,
    LINK_REFUSED,
    WRITEBACK_STEP,
    HashingWriter,
    Written,
    copy_new,
    exchange,
    exchange_atomically,
    free_bytes,
    fsync_dir,
    is_kind,
    link_or_copy,
    lstat_or_none,
    new_file,
    open_new,
    open_truncated,
    pwrite_all,
    remove_debris,
    remove_entry,
    sha256_file,
    start_writeback,
    temporary_name,
    write_atomic,
    write_new,
)
from pxeimport.lib.hashcache import HashCache
from pxeimport.lib.names import NAME_PATTERN, InvalidName, check_name
from pxeimport.lib.once import Once
from pxeimport.lib.oserrors import describe_os_error
from pxeimport.lib.redact import redact_text, redact_url, restore_password
from pxeimport.lib.sizes import megabytes
from pxeimport.lib.streamdigest import StreamDigest

__all__ = [
    "BLOCK_SIZE",
    "DEBRIS_RE",
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FILE_MODE",
    "LINK_REFUSED",
    "NAME_PATTERN",
    "WRITEBACK_STEP",
    "HashCache",
    "HashingWriter",
    "InvalidName",
    "Once",
    "StreamDigest",
    "Written",
    "check_name",
    "copy_new",
    "describe_os_error",
    "exchange",
    "exchange_atomically",
    "free_bytes",
    "fsync_dir",
    "is_kind",
    "link_or_copy",
    "lstat_or_none",
    "megabytes",
    "new_file",
    "open_new",
    "open_truncated",
    "pwrite_all",
    "redact_text",
    "redact_url",
    "remove_debris",
    "remove_entry",
    "restore_password",
    "sha256_file",
    "signal_exit",
    "start_writeback",
    "temporary_name",
    "write_atomic",
    "write_new",
]
