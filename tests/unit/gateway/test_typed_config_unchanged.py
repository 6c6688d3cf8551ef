"""The edge's generated Envoy configuration is what the reviewed snapshot says.

The snapshot began as the configuration the former dictionary builders generated for these
settings (every optional part on, and all off) and is rewritten by
`python -m tests.unit.gateway.typed_config_cases` after a deliberate change. Both sides are read
into envoy-data-plane messages and compared as proto3 JSON, so a field spelled differently but
meaning the same thing (a default left out, an int64 as a string) compares equal, and any real
difference does not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from betterproto2 import Casing

from gateway.envoy_config import build_bootstrap
from gateway.inspect import edge_config
from gateway.xds import types as t
from tests.unit.gateway.typed_config_cases import CASES, make_settings, normalize

BEFORE = json.loads((Path(__file__).parent / "fixtures/edge_config_before_typed.json").read_text())


def _proto_json(message_type: type[t.Bootstrap], data: dict[str, Any]) -> dict[str, Any]:
    return message_type.from_dict(data).to_dict(casing=Casing.SNAKE)


@pytest.mark.parametrize("case", CASES)
def test_static_bootstrap_is_what_the_dictionary_builders_generated(case, tmp_path):
    settings = make_settings(case, tmp_path, xds=False)

    typed = normalize(build_bootstrap(settings).to_dict(casing=Casing.SNAKE), settings, tmp_path)

    assert typed == _proto_json(t.Bootstrap, BEFORE[case]["static"])


@pytest.mark.parametrize("case", CASES)
def test_xds_resources_are_what_the_dictionary_builders_generated(case, tmp_path):
    settings = make_settings(case, tmp_path, xds=True)

    config = normalize(edge_config(settings), settings, tmp_path)

    before = BEFORE[case]["xds"]
    assert config["bootstrap"] == before["bootstrap"]
    assert config["resources"] == before["resources"]


def test_the_comparison_sees_a_changed_field(tmp_path):
    settings = make_settings("everything", tmp_path, xds=False)
    changed = build_bootstrap(settings)
    changed.static_resources.clusters[0].connect_timeout = None  # type: ignore[union-attr]

    typed = normalize(changed.to_dict(casing=Casing.SNAKE), settings, tmp_path)

    assert typed != _proto_json(t.Bootstrap, BEFORE["everything"]["static"])
