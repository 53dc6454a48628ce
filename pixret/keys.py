"""pixret's secret key, of the user's own, and the seals made with it.

A file pixret writes to say what it may later remove or trust (the compare cache's entries, a
run folder's ``.pixret-run.json``, a search folder's ``.pixret-search``, an index's
``.pixret-written``) is sealed with an HMAC-SHA256 (RFC 2104) under this key, so that such a
list is taken for pixret's own only if this user's pixret wrote it: a list planted in a folder
someone hands you, naming your files with their sha256, never leads pixret to remove them.
The key is made on first use (``KEY_BYTES`` random bytes, mode 0600, in a folder of mode 0700)
at ``$PIXRET_KEY_FILE``, else ``$XDG_CONFIG_HOME/pixret/cache.key`` (``~/.config/pixret/cache.key``).
Written by hand: the standard library has the HMAC, not a key file with these checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

from .errors import PixretError

KEY_ENV = "PIXRET_KEY_FILE"
KEY_BYTES = 32  # HMAC-SHA256's block is 64 bytes; 32 random bytes are its full strength (RFC 2104 sec. 3)
SEAL = "seal"  # the field of a sealed JSON document that holds its HMAC


def key_file() -> Path:
    """Where the user's secret cache key is: ``$PIXRET_KEY_FILE``, else
    ``$XDG_CONFIG_HOME/pixret/cache.key`` (``~/.config/pixret/cache.key``)."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "pixret" / "cache.key"


def user_key(path: Path | None = None) -> bytes:
    """The user's secret key (``KEY_BYTES`` bytes), made on first use with mode 0600 in a folder
    of mode 0700. PixretError (one line) when it cannot be made, or when the file there is not
    one to trust: not a regular file, not the user's, readable or writable by others, or not
    ``KEY_BYTES`` long."""
    path = key_file() if path is None else path
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(KEY_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # never replaces a key that is there: two first uses
                os.link(tmp, path)  # agree on one
        finally:
            os.unlink(tmp)
    except OSError as exc:
        raise PixretError(path, f"cannot make the cache key ({exc.strerror or exc})") from None
    try:
        return _read_key(path)
    except FileNotFoundError:
        raise PixretError(path, "the cache key vanished as it was made") from None


def _read_key(path: Path) -> bytes:
    """The key file's bytes, checked (``user_key``); FileNotFoundError when there is none. The
    file is opened without following a link (O_NOFOLLOW) and checked on the open descriptor, so
    what is checked is what is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if os.path.islink(path):  # O_NOFOLLOW's ELOOP ("Too many levels of symbolic links") says it badly
            raise PixretError(path, "the cache key is a symbolic link: pixret reads its key only from a file itself, "
                              f"never through a link (set {KEY_ENV} to the file's own path)") from None  # fmt: skip
        raise PixretError(path, f"cannot read the cache key ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # checked before a file object is made: a folder cannot be one
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise PixretError(path, f"the cache key is {what}, not a file (set {KEY_ENV} to a file's path: the key is "
                          "made there)")  # fmt: skip
    with os.fdopen(fd, "rb") as fh:
        if st.st_uid != os.getuid():
            raise PixretError(path, "the cache key belongs to another user")
        if st.st_mode & 0o077:
            raise PixretError(path, f"others may read or change the cache key (mode {stat.S_IMODE(st.st_mode):o}): "
                              "chmod 600 it, or remove it to make a new one")  # fmt: skip
        data = fh.read(KEY_BYTES + 1)
    if len(data) != KEY_BYTES:
        raise PixretError(path, f"the cache key is {len(data)} bytes, not {KEY_BYTES}: remove it to make a new one")
    return data


def seal(doc: dict, purpose: str) -> dict:
    """``doc`` with its seal (field ``SEAL``): the HMAC-SHA256 under the user's key of
    ``purpose`` and ``doc`` as canonical JSON. Without a key (one that cannot be made or is not
    to be trusted: ``user_key``'s PixretError) ``doc`` is returned unsealed, which no reader
    trusts: pixret then keeps, never removes, what the list names."""
    try:
        secret = user_key()
    except PixretError:
        return dict(doc)
    return {**doc, SEAL: mac(secret, [purpose, doc])}


def sealed(doc: object, purpose: str) -> bool:
    """Whether ``doc`` (a JSON object read back) carries a valid seal of ``purpose`` under this
    user's key (False without a key, without a seal, or for another purpose or content)."""
    if not isinstance(doc, dict) or not isinstance(doc.get(SEAL), str):
        return False
    try:
        secret = user_key()
    except PixretError:
        return False
    body = {k: v for k, v in doc.items() if k != SEAL}
    return hmac.compare_digest(doc[SEAL].encode("utf-8", "surrogateescape"), mac(secret, [purpose, body]).encode())


def mac(secret: bytes, value: object) -> str:
    """HMAC-SHA256 (hex) under ``secret`` of ``value`` as canonical JSON (sorted keys, ASCII):
    the seals here and the compare cache's entries."""
    msg = json.dumps(value, sort_keys=True, ensure_ascii=True).encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()
