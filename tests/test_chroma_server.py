"""The index on a chroma server (``index.url``), for real: ``chroma run`` from the pinned chromadb
package, started by the test on loopback, then ingest, search, reindex, and a server that is down."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app
from coder_assist.errors import ServerError

from .conftest import FIXTURES

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """``chroma run`` on a free loopback port, with its data in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path, self.port = path, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.proc = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("chroma run did not answer within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    if not CHROMA.exists():
        pytest.fail(f"{CHROMA} is missing: chromadb's server ships with the pinned chromadb package")
    srv = ChromaServer(tmp_path / "chroma-data")
    srv.start()
    yield srv
    srv.stop()


def _on_server(root: Path, url: str) -> None:
    """Point the project's index at the server, as a team would, by editing the config file."""
    path = root / "coder-assist.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config.setdefault("index", {})["url"] = url
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


def test_index_search_and_reindex_on_a_chroma_server(server: ChromaServer, tmp_path: Path) -> None:
    root = tmp_path / "p"
    Project.init(root, coder="ann", embedder="hash").close()
    _on_server(root, server.url)
    with Project.open(root) as p:
        report = p.ingest([FIXTURES / "wave1"])
        total = len(p.segments())
        assert report.indexed == total > 0 and p.status()["indexed"] == total
        hits = p.search("the new CFO changed how the supplier is judged", k=3)
        assert len(hits) == 3
        assert p.index.name.startswith("p") and p.index.count() == total  # the project's own collection
        assert p.audit_log(type_="config-change")[-1]["payload"]["changed"]["index.url"] == ["", server.url]
    # Nothing was written to the embedded index: the vectors are on the server.
    assert not any((root / "index").rglob("*.sqlite3"))
    res = CliRunner().invoke(app, ["-p", str(root), "reindex"])
    assert res.exit_code == 0, res.output
    with Project.open(root) as p:
        assert p.index.count() == total and p.search("invoice", k=2)


def test_two_projects_on_one_server_keep_their_segments_apart(server: ChromaServer, tmp_path: Path) -> None:
    roots = [tmp_path / "a", tmp_path / "b"]
    for root, folder in zip(roots, ("wave1", "wave2")):
        Project.init(root, coder="ann", embedder="hash").close()
        _on_server(root, server.url)
        with Project.open(root) as p:
            p.ingest([FIXTURES / folder])
    with Project.open(roots[0]) as a, Project.open(roots[1]) as b:
        assert a.index.name != b.index.name
        mine = {s["id"] for s in b.segments()}
        assert {h.segment_id for h in b.search("price and the contract", k=10)} <= mine
        assert a.index.count() == len(a.segments()) and b.index.count() == len(b.segments())


def test_a_server_that_is_down_is_one_clear_error(server: ChromaServer, tmp_path: Path) -> None:
    root = tmp_path / "p"
    Project.init(root, coder="ann", embedder="hash").close()
    _on_server(root, server.url)
    with Project.open(root) as p:
        p.ingest([FIXTURES / "wave1" / "nw01_natarajan_procurement.md"])
        index = p.index  # connected while the server ran
        server.stop()
        with pytest.raises(ServerError, match=f"chroma server at {server.url} stopped answering"):
            index.query(p.embedder.embed(["price"])[0], 3)
    runner = CliRunner()
    for args in (["search", "price"], ["ingest", str(FIXTURES / "wave1" / "vl02_verbeek_korbel.txt")]):
        res = runner.invoke(app, ["-p", str(root), *args])
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        assert any(f"chroma server at {server.url}" in ln and "(index.url)" in ln for ln in lines), res.output
    # The server back: the file ingested while it was down is indexed by the next run.
    server.start()
    with Project.open(root) as p:
        p.index_pending()
        assert p.index.count() == len(p.segments())
