"""HTTP downloads shared by datasets and model weights: HTTP Range resume, redirects, known
sizes, sha256 check.

A download goes to ``NAME.part`` beside its target, with ``NAME.part.json`` saying where it came
from (the address asked for and the one a redirect led to), the file's size and its validator
(ETag, else Last-Modified). An interrupted download resumes (Range, RFC 9110 14.2) only from
the same address or the one it was redirected to, with If-Range so that a file changed on the
server comes whole instead of its tail appended to the old head, and only when the server
answers with the bytes asked for (Content-Range). A size known in advance (``size``) is checked
before a byte is kept and after the last: a file of another size is one line, and nothing of it
is kept to resume from.

An address is checked before it is asked for (``check_url``): http(s), a host, no white space
or control character (an address with a space or a line break is refused in one line); a
non-ASCII one is percent-encoded as UTF-8, its host IDNA-encoded (RFC 3987 3.1, what a browser
sends for such an address).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from .errors import PixretError, quoted

CHUNK = 1 << 20


_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))  # what percent-encoding leaves as it is


def check_url(url: object, where: str | os.PathLike | None = None) -> str:
    """``url`` as it is asked for: PixretError (naming ``where``, else the address) when it is
    not text, not http(s), has no host, or holds white space or a control character (which
    urllib refuses with a traceback, or sends as another request line); a non-ASCII address
    percent-encoded as UTF-8 and its host IDNA-encoded (RFC 3987 3.1), so a mirror's ``café/``
    folder is reached as ``caf%C3%A9/``."""
    shown = quoted(url, 80)
    if not isinstance(url, str) or not url:
        raise PixretError(where, f"address {shown}: expected an http(s) address as text")
    bad = next((c for c in url if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise PixretError(where, f"address {shown} holds {quoted(bad)} (U+{ord(bad):04X}): an address has no "
                          "white space or control character (write a space as %20)")  # fmt: skip
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise PixretError(where, f"address {shown}: not an address ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise PixretError(where, f"address {shown}: expected http:// or https:// and a host")
    if url.isascii():
        return url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    name, colon, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    try:
        ascii_host = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise PixretError(where, f"address {shown}: its host {quoted(name)} is not a valid host name") from None
    netloc = f"{quote(userinfo, safe=_PRINTABLE_ASCII)}{at}{ascii_host}{colon}{port}"
    return urlunsplit((parts.scheme, netloc, *(quote(p, safe=_PRINTABLE_ASCII)
                                               for p in (parts.path, parts.query, parts.fragment))))  # fmt: skip


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


@functools.cache
def _opener():
    """urllib's opener with its redirects (Range and If-Range travel with them; at most 10), but
    only to http(s), never from https down to http. Built on first use: urllib.request and
    http.client cost `pixret --help` 20 ms when imported at the top."""
    import urllib.request

    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            old, new = urlsplit(req.full_url).scheme, urlsplit(newurl).scheme
            if new not in ("http", "https") or (old == "https" and new == "http"):
                why = "only to http(s), never down from https"
                raise PixretError(req.full_url, f"redirected to {newurl}: not followed ({why})")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(Redirects)


def _size_text(n: int) -> str:
    return f"{n:,} bytes"


def _read_meta(meta: Path) -> dict:
    try:
        doc = json.loads(meta.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _drop(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header, "bytes 3000-9999/10000" or a 416's
    "bytes */10000" (RFC 9110 14.4); None for what it does not say."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    return (None if m[1] is None else int(m[1])), (None if m[2] == "*" else int(m[2]))


def fetch_url(
    url: str, target: Path, timeout: float = 60.0, progress: bool = True, size: int | None = None
) -> Path:
    """Download ``url`` to ``target``, resuming a ``target.part`` left by an earlier try (module
    docstring). ``size``: the file's size in bytes when known. ``timeout``: seconds, for the
    connection and for each read. Raises PixretError (one line) when the server fails, the
    connection drops ("run again to resume") or the file is not of ``size`` bytes."""
    url = check_url(url)
    target = Path(target)
    part = target.with_name(target.name + ".part")
    meta_path = target.with_name(target.name + ".part.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    meta = _read_meta(meta_path) if have else {}
    # a part without its note (an older pixret's) is resumed as before, its bytes checked below
    noted = meta.get("total")
    same_file = not meta or (url in meta.get("urls", ()) and (size is None or noted in (None, size)))
    if have and (not same_file or (size is not None and have > size)):
        _drop(part, meta_path)  # another address's, or longer than the file: no start of it
        have, meta = 0, {}
    if have and size is not None and have == size:  # complete already: nothing to ask for
        os.replace(part, target)
        _drop(meta_path)
        return target
    import http.client
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers={"User-Agent": "pixret"})
    if have:
        req.add_header("Range", f"bytes={have}-")
        if meta.get("validator"):
            req.add_header("If-Range", meta["validator"])
    try:
        resp = _opener().open(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing after the part: complete, unless a size says otherwise
            total = _content_range((exc.headers or {}).get("Content-Range"))[1]
            unsaid = total is None and size in (None, have) and meta.get("total") in (None, have)
            if total == have or unsaid:
                os.replace(part, target)
                _drop(meta_path)
                return target
            _drop(part, meta_path)
            raise PixretError(url, "the server refused to resume (HTTP 416); run again to download it "
                              "whole") from None  # fmt: skip
        raise PixretError(url, f"HTTP {exc.code} {exc.reason}") from None
    except PixretError:
        raise
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise PixretError(url, f"cannot connect ({getattr(exc, 'reason', exc)})") from None
    except (ValueError, http.client.HTTPException) as exc:  # an address or a redirect urllib cannot ask for
        raise PixretError(url, f"cannot download from this address ({type(exc).__name__}: {quoted(str(exc), 120)})") \
            from None
    with resp:
        final = resp.geturl()
        length = resp.headers.get("Content-Length")
        resumed = bool(have) and resp.status == 206
        if resumed:
            got = _content_range(resp.headers.get("Content-Range"))
            if got[0] != have or (size is not None and got[1] not in (None, size)):
                _drop(part, meta_path)
                where = resp.headers.get("Content-Range")
                raise PixretError(url, f"the server resumed at another place ({where}); run again to "
                                  "download it whole")  # fmt: skip
            total = got[1] if got[1] is not None else (have + int(length) if length is not None else None)
        else:
            have = 0  # the server ignored Range (or the file changed): start over
            total = int(length) if length is not None and resp.status == 200 else None
        if size is not None and total is not None and total != size:
            _drop(part, meta_path)
            raise PixretError(url, f"{_size_text(total)}, expected {_size_text(size)}: not the file expected "
                              "(moved or replaced?)")  # fmt: skip
        validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        urls = list(dict.fromkeys([url, final, *(meta.get("urls", []) if resumed else [])]))
        # the one progress bar (drawn only on a terminal, removed when done); imported here, not
        # at the top: `pixret --help` reads the weights' names through this module
        from .parallel import progress_bar

        bar = progress_bar(total=total, initial=have, unit="B", unit_scale=True, desc=target.name, enabled=progress)
        try:
            meta_path.write_text(json.dumps({"urls": urls, "total": total, "validator": validator}))
            with open(part, "ab" if resumed else "wb") as fh, bar:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    bar.update(len(block))
        except (OSError, TimeoutError) as exc:
            raise PixretError(url, f"download interrupted ({exc}); run again to resume") from None
    got = part.stat().st_size
    if total is not None and got < total:
        raise PixretError(url, f"download stopped at {got} of {total} bytes; run again to resume")
    if (size is not None and got != size) or (total is not None and got != total):
        _drop(part, meta_path)
        raise PixretError(url, f"{_size_text(got)}, expected {_size_text(size or total)}: not the file "
                          "expected")  # fmt: skip
    os.replace(part, target)
    _drop(meta_path)
    return target


def verify(path: Path, sha256: str | None) -> None:
    if sha256 and sha256_of(path).lower() != sha256.lower():
        raise PixretError(path, f"sha256 mismatch (expected {sha256}); delete it and download again")
