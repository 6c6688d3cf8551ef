"""The edge's settings: read from its EDGE_ environment, validated, frozen."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from gateway.config import EdgeSettings


def test_settings_come_from_edge_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("EDGE_INTERNAL_TOKEN", "from-env")
    monkeypatch.setenv("EDGE_PORT", "9999")
    monkeypatch.setenv("EDGE_CORS_ORIGINS", "http://a.test, http://b.test")
    monkeypatch.setenv("EDGE_DESCRIPTOR_SET", str(tmp_path / "x.binpb"))

    loaded = EdgeSettings()  # type: ignore[call-arg]  # the token comes from the environment

    assert loaded.internal_token.get_secret_value() == "from-env"
    assert loaded.port == 9999
    assert loaded.cors_origins == ("http://a.test", "http://b.test")
    assert loaded.descriptor_set == tmp_path / "x.binpb"
    assert (loaded.auth_addr, loaded.registry_addr) == ("127.0.0.1:50051", "127.0.0.1:50052")
    assert (loaded.scheduler_addr, loaded.storage_addr) == ("127.0.0.1:50053", "127.0.0.1:50054")
    assert loaded.concurrency == 2
    with pytest.raises(ValidationError):
        loaded.port = 1  # frozen


@pytest.mark.parametrize("addr", ["nohost", "host:", ":50051", "host:99999", "host:abc"])
def test_settings_reject_bad_upstream_addresses(addr: str):
    with pytest.raises(ValidationError):
        EdgeSettings(internal_token=SecretStr("s3cret"), auth_addr=addr)


def test_settings_require_the_internal_token(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("EDGE_INTERNAL_TOKEN", raising=False)

    with pytest.raises(ValidationError):
        EdgeSettings()  # type: ignore[call-arg]  # the point of the test
