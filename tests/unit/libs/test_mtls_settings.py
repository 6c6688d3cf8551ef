"""Mutual TLS settings come as a set of three files or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from gateway.config import EdgeSettings
from services.registry.config import Settings as RegistrySettings


def test_all_three_files_or_none(tmp_path: Path) -> None:
    files = {
        "mtls_cert_file": tmp_path / "c.pem",
        "mtls_key_file": tmp_path / "k.pem",
        "mtls_ca_file": tmp_path / "ca.pem",
    }
    assert RegistrySettings(internal_token=SecretStr("t")).mtls() is None
    whole = RegistrySettings(internal_token=SecretStr("t"), **files).mtls()
    assert whole is not None and whole.ca == tmp_path / "ca.pem"
    with pytest.raises(ValidationError, match="go together"):
        RegistrySettings(internal_token=SecretStr("t"), mtls_cert_file=files["mtls_cert_file"])
    with pytest.raises(ValidationError, match="go together"):
        EdgeSettings(internal_token=SecretStr("t"), mtls_ca_file=files["mtls_ca_file"])
    assert EdgeSettings(internal_token=SecretStr("t"), **files).mtls() == whole
