"""Shared fixtures. Every test runs with no network: a guard fails any non-loopback connection."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
# The real transcripts beside the checkout (CI puts shared/ there); CODER_ASSIST_SHARED overrides.
SHARED = Path(os.environ.get("CODER_ASSIST_SHARED", ROOT.parent / "shared")) / "transcripts"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("CODER_ASSIST_PROJECT", None)
os.environ.pop("CODER_ASSIST_CODER", None)


class NetworkBlocked(RuntimeError):
    """Raised when a test tries to reach a non-loopback address."""


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise NetworkBlocked(f"test tried to connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise NetworkBlocked(f"test tried to connect to {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
    if host not in (None, "localhost") and not _is_loopback((host,)):
        raise NetworkBlocked(f"test tried to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") and not SHARED.is_dir():
        # In CI the real-transcript tests must run, not skip quietly.
        raise pytest.UsageError(f"CI=true but the shared transcripts are missing: {SHARED}")
    sys._called_from_test = True  # type: ignore[attr-defined]  # no third-party plug-ins in tests
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]


@pytest.fixture
def project(tmp_path: Path):
    """A fresh project using the test-only hash embedder (no model load)."""
    from coder_assist import Project

    proj = Project.init(tmp_path / "proj", coder="tester", embedder="hash")
    yield proj
    proj.close()


@pytest.fixture
def write(tmp_path: Path):
    """Write a file (str or bytes) under tmp_path/in and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


# -- PostgreSQL -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_server():
    """A throwaway PostgreSQL server for one test module (``tests/pg_server.py``); in CI its absence
    fails the tests, elsewhere it skips them with the reason."""
    from .pg_server import PgServer, binaries

    if binaries() is None:
        reason = "PostgreSQL server binaries not found (Debian package postgresql; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = PgServer()
    server.start()
    yield server
    server.stop()


# -- the whole suite on the PostgreSQL store: CODER_ASSIST_TEST_STORE=postgresql ---------------------
@pytest.fixture(scope="session")
def _pg_for_every_project():
    """With ``CODER_ASSIST_TEST_STORE=postgresql``, one server for the session (``tests/pg_server.py``)."""
    if os.environ.get("CODER_ASSIST_TEST_STORE") != "postgresql":
        yield None
        return
    from .pg_server import PgServer

    server = PgServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Every project a test creates goes on a fresh PostgreSQL database when the suite runs on that
    backend; a test of the SQLite file itself (``sqlite_only``) does not apply there."""
    server = request.getfixturevalue("_pg_for_every_project")
    if server is None:
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("needs projects on SQLite (runs in the SQLite pass); the PostgreSQL store has its own tests (test_postgres_*)")
    from coder_assist.store import context

    real = context.StoreContext.create.__func__

    def create(cls, root, config):  # noqa: ANN001, ANN202 - StoreContext.create's signature
        if not config.store.url:
            config.store.url = server.database()
        return real(cls, root, config)

    monkeypatch.setattr(context.StoreContext, "create", classmethod(create))
