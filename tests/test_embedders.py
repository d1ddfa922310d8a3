"""Embedders. The MiniLM test loads the real model from site-packages (a few seconds, no network)."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from coder_assist.store.embedders import HashEmbedder, MiniLMEmbedder, verify_model_file
from coder_assist.errors import CoderAssistError

from .conftest import NetworkBlocked


def test_hash_embedder_is_deterministic_and_normalised():
    e = HashEmbedder(32)
    a, b = e.embed(["the supplier was late", "the supplier was late"]), e.embed(["the supplier was late"])
    assert np.allclose(a[0], b[0]) and np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert e.embed([""]).shape == (1, 32)


@pytest.mark.slow
def test_minilm_is_real_offline_and_meaningful():
    e = MiniLMEmbedder()
    v = e.embed(["I felt unsupported by my manager", "My boss did not help me", "The weather was sunny"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    related, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert related > 0.4 and unrelated < 0.15


def test_model_hash_mismatch_is_refused(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"not the model")
    with pytest.raises(CoderAssistError, match="sha256"):
        verify_model_file(f, "0" * 64)


def test_network_guard_blocks_outbound_connections():
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("example.com", 443)
