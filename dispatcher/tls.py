"""The one TLS context of every outgoing connection, loaded once, in a thread of its own.

Loading the trust store takes ~20 ms of OpenSSL, which runs without the GIL: `preload` starts it
when serve starts, so it is done while the modules are imported instead of after them. It is the
context httpx builds by default (certifi's store, or SSL_CERT_FILE / SSL_CERT_DIR when set).
A fork waits for a load under way: the child has no copy of the thread that would finish it.
"""

from __future__ import annotations

import os
import ssl
import threading
from concurrent.futures import Future

_loading: Future[ssl.SSLContext] | None = None
_lock = threading.Lock()


def preload() -> None:
    """Start loading the context now, in a thread (a no-op once started)."""
    _started()


def tls_context() -> ssl.SSLContext:
    """The shared context (loaded here if `preload` was not called)."""
    return _started().result()


def _started() -> Future[ssl.SSLContext]:
    global _loading
    with _lock:
        if _loading is None:
            _loading = Future()
            threading.Thread(target=_load, args=(_loading,), name="reelhook-tls",
                             daemon=True).start()
        return _loading


def _settle_before_fork() -> None:
    _lock.acquire()  # no load starts while the process forks (released on both sides)
    loading = _loading
    if loading is not None:
        loading.exception()  # waits; a failed load is the child's to raise, as it is ours


os.register_at_fork(before=_settle_before_fork, after_in_parent=_lock.release,
                    after_in_child=_lock.release)


def _load(into: Future[ssl.SSLContext]) -> None:
    try:
        into.set_result(_new_context())
    except BaseException as exc:  # the caller of tls_context() gets it
        into.set_exception(exc)


def _new_context() -> ssl.SSLContext:
    import certifi  # httpx's own dependency, the store it trusts by default

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())
