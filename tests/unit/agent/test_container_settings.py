"""Container backend settings an operator gets wrong are refused at start, naming the key."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from services.agent.config import Settings


@pytest.mark.parametrize("network", ["host", "container:other-kernel", "ns:/proc/1/ns/net"])
def test_a_kernel_network_shared_with_the_host_or_another_container_is_refused(
    network: str,
) -> None:
    with pytest.raises(ValidationError, match="container_network"):
        Settings(internal_token=SecretStr("t"), backend="container", container_network=network)


def test_the_default_is_a_network_of_its_own_and_an_unprivileged_user() -> None:
    settings = Settings(internal_token=SecretStr("t"), backend="container")
    assert settings.container_network == "none"
    assert (settings.kernel_uid, settings.kernel_gid) == (64000, 64000)
    assert not settings.keep_kernels_on_stop


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValidationError, match="backend"):
        Settings(internal_token=SecretStr("t"), backend="vm")  # type: ignore[arg-type]
