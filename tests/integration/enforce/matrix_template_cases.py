"""Object cases for session templates (a personal template of user-A1) and resource presets
(global: superadmins write them, everyone signed in reads them and checks what remains)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from tests.integration.enforce import matrix as m
from tests.integration.enforce.matrix_kit import Case, Platform, req

REG = "/shipyard.registry.v1"
TPL, PRE = "SessionTemplateService", "ResourcePresetService"


def _document() -> str:
    name = f"t-{secrets.token_hex(3)}"
    return json.dumps({"kind": "session_template", "name": name, "spec": {"image": "x"}})


async def _template(p: Platform) -> str:
    method = f"{REG}.{TPL}/CreateSessionTemplate"
    made = await p.call(method, req(method, payload=_document()), p.tenancy.owner)
    return str(made.template.template_id)


async def _preset(p: Platform) -> dict[str, Any]:
    method = f"{REG}.{PRE}/CreateResourcePreset"
    body = {"name": f"p-{secrets.token_hex(3)}", "resource_slots": {"amounts": {"cpu": "1"}}}
    await p.call(method, req(method, resource_preset=body), p.tenancy.callers["superadmin"])
    return body


async def _new_template(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.{TPL}/CreateSessionTemplate", payload=_document()), ""


def _on_template(method: str, *, new_payload: bool = False):  # type: ignore[no-untyped-def]
    async def prepare(p: Platform) -> tuple[Any, str]:
        template_id = await _template(p)
        fields = {"payload": _document()} if new_payload else {}
        return req(f"{REG}.{TPL}/{method}", template_id=template_id, **fields), ""

    return prepare


async def _template_listing(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.{TPL}/ListSessionTemplates"), await _template(p)


async def _new_preset(p: Platform) -> tuple[Any, str]:
    body = {"name": f"p-{secrets.token_hex(3)}", "resource_slots": {"amounts": {"cpu": "1"}}}
    return req(f"{REG}.{PRE}/CreateResourcePreset", resource_preset=body), ""


async def _preset_update(p: Platform) -> tuple[Any, str]:
    body = await _preset(p)
    body["resource_slots"] = {"amounts": {"cpu": "2"}}
    return req(f"{REG}.{PRE}/UpdateResourcePreset", resource_preset=body), ""


async def _preset_delete(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.{PRE}/DeleteResourcePreset", name=(await _preset(p))["name"]), ""


async def _preset_listing(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.{PRE}/ListResourcePresets"), (await _preset(p))["name"]


async def _check(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.{PRE}/CheckResourcePresets"), ""


CASES: dict[str, Case] = {
    f"{REG}.{TPL}/CreateSessionTemplate": Case(m.CREATE_OWN, _new_template),
    f"{REG}.{TPL}/GetSessionTemplate": Case(m.READ_OBJECT, _on_template("GetSessionTemplate")),
    f"{REG}.{TPL}/ListSessionTemplates": Case(
        m.LIST,
        _template_listing,
        lambda r: {t.template_id for t in r.templates},
    ),
    f"{REG}.{TPL}/UpdateSessionTemplate": Case(
        m.CHANGE_OBJECT, _on_template("UpdateSessionTemplate", new_payload=True)
    ),
    f"{REG}.{TPL}/DeleteSessionTemplate": Case(
        m.CHANGE_OBJECT, _on_template("DeleteSessionTemplate")
    ),
    f"{REG}.{PRE}/CreateResourcePreset": Case(m.SUPER_ONLY, _new_preset),
    f"{REG}.{PRE}/UpdateResourcePreset": Case(m.SUPER_ONLY, _preset_update),
    f"{REG}.{PRE}/DeleteResourcePreset": Case(m.SUPER_ONLY, _preset_delete),
    f"{REG}.{PRE}/ListResourcePresets": Case(
        m.SIGNED_IN, _preset_listing, lambda r: {p.name for p in r.resource_presets}
    ),
    f"{REG}.{PRE}/CheckResourcePresets": Case(m.SIGNED_IN, _check),
}
