"""Session templates and folder mounts through the edge, as ordinary users.

A template creates the session it describes (slots, environment, a folder subpath at its own
kernel path); the request overrides it; another user neither sees nor uses a private template,
while project members use (but do not change) a project template. Presets:
test_resource_presets.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.cli_as_user import cli_ok
from tests.e2e.tenants import client_for, ordinary_user

pytestmark = pytest.mark.e2e

MIB = 1024**2

TEMPLATE = """
kind: session_template
name: greeter
spec:
  resources: {{cpu: 0.5, mem: {mem}}}
  environ: {{GREETING: hello, KEEP: kept}}
  mounts: ["{folder}/sub:/home/work/x"]
"""


async def _ended(c: ShipyardClient, session_id: str) -> None:
    ended = ("SESSION_STATUS_TERMINATED", "SESSION_STATUS_ERROR")
    async with asyncio.timeout(60):
        while True:
            if (await c.get_session(session_id))["status"] in ended:
                return
            await asyncio.sleep(0.2)


async def _env(c: ShipyardClient, session_id: str, *names: str) -> list[str]:
    code = f"import os; print(' '.join(os.environ.get(n, '-') for n in {list(names)!r}))"
    result = await c.execute(session_id, code)
    return str(result["stdout"]).split()


async def test_a_template_creates_the_session_it_describes(platform: Platform) -> None:
    alice = await ordinary_user(platform)
    folder = f"d-{secrets.token_hex(3)}"
    async with client_for(platform, alice) as c:
        vfolder = (await c.create_vfolder(folder))["vfolder_id"]
        files = f"/v1/vfolders/{vfolder}/files"
        await c.request("POST", files + ":mkdir", body={"path": "sub"})
        payload = TEMPLATE.format(mem=128 * MIB, folder=folder)
        template = (await c.request("POST", "/v1/session-templates", body={"payload": payload}))[
            "template"
        ]
        assert template["kind"] == "SESSION_TEMPLATE_KIND_SESSION"
        assert template["spec"]["environ"] == {"GREETING": "hello", "KEEP": "kept"}

        session = await c.create_session(template_id=template["template_id"], wait=True)
        assert session["status"] == "SESSION_STATUS_RUNNING", session
        slots = session["requested_slots"]["amounts"]
        assert (Decimal(slots["cpu"]), int(slots["mem"])) == (Decimal("0.5"), 128 * MIB)
        assert await _env(c, session["session_id"], "GREETING", "KEEP") == ["hello", "kept"]
        # The folder's subdirectory is what the kernel sees at /home/work/x.
        wrote = await c.execute(
            session["session_id"], "echo hi > /home/work/x/from-kernel.txt", mode="batch"
        )
        assert wrote["exit_code"] == 0, wrote
        fetched = await c.request("GET", files + ":fetch", params={"path": "sub/from-kernel.txt"})
        assert base64.b64decode(fetched["content"]) == b"hi\n"
        await c.destroy_session(session["session_id"])

        # Overriding: the request's slots and variables win, the rest comes from the template.
        session = await c.create_session(
            template_id=template["template_id"],
            resources={"cpu": "1"},
            environ={"GREETING": "bye"},
            wait=True,
        )
        slots = session["requested_slots"]["amounts"]
        assert (Decimal(slots["cpu"]), int(slots["mem"])) == (Decimal(1), 128 * MIB)
        assert await _env(c, session["session_id"], "GREETING", "KEEP") == ["bye", "kept"]
        await c.destroy_session(session["session_id"])


async def test_bad_documents_are_refused_naming_the_key(platform: Platform) -> None:
    alice = await ordinary_user(platform)
    cases = {
        "kind: session_template\nname: t\nspec: {resources: {cpu: lots}}": "spec.resources.cpu",
        "kind: session_template\nname: t\nspec: {imagee: x}": "spec.imagee",
        json.dumps({"kind": "cluster_template", "name": "c", "spec": {}}): "spec.cluster_size",
        "kind: session_template\nname: t\nspec: [": "payload",
        json.dumps({"kind": "session_template", "name": "t", "spec": {"cluster_size": 2}}): (
            "spec.cluster_size"
        ),
    }
    async with client_for(platform, alice) as c:
        for payload, field in cases.items():
            with pytest.raises(ApiError) as err:
                await c.request("POST", "/v1/session-templates", body={"payload": payload})
            assert err.value.status == 400 and field in str(err.value.body), err.value.body
        assert (await c.request("GET", "/v1/session-templates")).get("templates", []) == []


async def test_a_cluster_template_starts_a_cluster(platform: Platform) -> None:
    alice = await ordinary_user(platform)
    doc = {
        "kind": "cluster_template",
        "name": "pair",
        "spec": {"resources": {"cpu": "0.25", "mem": str(64 * MIB)}, "cluster_size": 2},
    }
    async with client_for(platform, alice) as c:
        template = (
            await c.request("POST", "/v1/session-templates", body={"payload": json.dumps(doc)})
        )["template"]
        assert template["kind"] == "SESSION_TEMPLATE_KIND_CLUSTER"
        session = await c.create_session(template_id=template["template_id"])
        assert session["cluster_size"] == 2
        assert sorted(k["cluster_role"] for k in session["kernels"]) == ["main", "sub"]
        await c.destroy_session(session["session_id"], forced=True)


async def test_who_may_use_and_change_a_template(platform: Platform) -> None:
    alice, bob = await ordinary_user(platform), await ordinary_user(platform)
    doc = json.dumps({"kind": "session_template", "name": "mine", "spec": {"image": "python:3.11"}})
    async with client_for(platform, alice) as a, client_for(platform, bob) as b:
        private = (await a.request("POST", "/v1/session-templates", body={"payload": doc}))[
            "template"
        ]["template_id"]
        # A retried create returns the same template; another one of that name is a conflict.
        again = await a.request("POST", "/v1/session-templates", body={"payload": doc})
        assert again["template"]["template_id"] == private
        with pytest.raises(ApiError) as err:
            await a.request(
                "POST", "/v1/session-templates", body={"payload": doc.replace("3.11", "3.12")}
            )
        assert err.value.status == 409 and "payload.name" in str(err.value.body)
        project_id = (await a.whoami())["project_ids"][0]
        shared = (
            await a.request(
                "POST", "/v1/session-templates", body={"payload": doc, "project_id": project_id}
            )
        )["template"]["template_id"]

        # Bob (same project) sees the project's template, never Alice's private one.
        listed = {
            t["template_id"] for t in (await b.request("GET", "/v1/session-templates"))["templates"]
        }
        assert shared in listed and private not in listed
        for method, path, body in (
            ("GET", f"/v1/session-templates/{private}", None),
            ("DELETE", f"/v1/session-templates/{private}", None),
            ("POST", "/v1/sessions", {"template_id": private}),
        ):
            with pytest.raises(ApiError) as err:
                await b.request(method, path, body=body)
            assert err.value.status == 404, (method, path, err.value.body)
        # He uses the project template but may not change or delete it.
        session = await b.create_session(template_id=shared)
        await b.destroy_session(session["session_id"], forced=True)
        with pytest.raises(ApiError) as err:
            await b.request("DELETE", f"/v1/session-templates/{shared}")
        assert err.value.status == 403
        with pytest.raises(ApiError) as err:
            await b.request(
                "POST",
                "/v1/session-templates",
                body={"payload": doc, "project_id": "00000000-0000-0000-0000-000000000001"},
            )
        assert err.value.status == 403 and "project_id" in str(err.value.body)

        # Alice updates and deletes her own.
        renamed = doc.replace('"mine"', '"renamed"')
        updated = await a.request(
            "PUT", f"/v1/session-templates/{private}", body={"payload": renamed}
        )
        assert updated["template"]["name"] == "renamed"
        await a.request("DELETE", f"/v1/session-templates/{shared}")
        with pytest.raises(ApiError) as err:
            await b.request("GET", f"/v1/session-templates/{shared}")
        assert err.value.status == 404


async def test_templates_list_a_page_at_a_time_newest_first(platform: Platform) -> None:
    owner, stranger = await ordinary_user(platform), await ordinary_user(platform)
    async with client_for(platform, owner) as a, client_for(platform, stranger) as s:
        made = []
        for i in range(5):
            doc = f"kind: session_template\nname: paged-{i}\nspec: {{}}\n"
            created = await a.request("POST", "/v1/session-templates", body={"payload": doc})
            made.append(created["template"]["template_id"])
        seen: list[str] = []
        params = {"page_size": "2", "page_token": ""}
        while True:
            page = await a.request("GET", "/v1/session-templates", params=params)
            assert len(page["templates"]) <= 2
            seen += [t["template_id"] for t in page["templates"]]
            if not (token := page.get("next_page_token", "")):
                break
            params["page_token"] = token
        assert seen == made[::-1]  # every template once, newest first
        nothing = await s.request("GET", "/v1/session-templates", params={"page_size": "2"})
        assert nothing.get("templates", []) == [] and not nothing.get("next_page_token")
        with pytest.raises(ApiError) as bad:
            await a.request("GET", "/v1/session-templates", params={"page_token": "bogus!"})
        assert bad.value.status == 400 and "page_token" in str(bad.value.body)


async def test_overlapping_mount_targets_are_refused(platform: Platform) -> None:
    alice = await ordinary_user(platform)
    folder = f"o-{secrets.token_hex(3)}"
    async with client_for(platform, alice) as c:
        await c.create_vfolder(folder)
        for fields, named in (
            (
                {"vfolder_names": [folder], "mounts": [f"{folder}:/home/work/{folder}/in"]},
                "mounts[0]",
            ),
            ({"mounts": [f"{folder}:/home/work/a", f"{folder}:a"]}, "mounts[1]"),
            ({"mounts": [f"{folder}:/etc"]}, "mounts[0]"),
            ({"mounts": [f"{folder}/nope"]}, "mounts[0]"),
        ):
            with pytest.raises(ApiError) as err:
                await c.create_session(**fields)
            assert err.value.status == 400 and named in str(err.value.body), err.value.body
        assert (await c.list_sessions()).get("sessions", []) == []


async def test_the_cli_creates_a_template_and_a_session_from_it(
    platform: Platform, tmp_path: Path
) -> None:
    alice = await ordinary_user(platform)

    async def shipyard(*argv: str) -> Any:
        out = await cli_ok(platform, alice, "--data-dir", str(tmp_path), *argv)
        return json.loads(out) if out.strip() else None

    doc = tmp_path / "t.yaml"
    doc.write_text("kind: session_template\nname: cli\nspec: {environ: {FROM: template}}\n")
    template = await shipyard("session-template", "create", "-f", str(doc))
    assert [t["name"] for t in await shipyard("session-template", "list")] == ["cli"]
    got = await shipyard("session-template", "get", template["template_id"])
    assert got["name"] == "cli"
    session = await shipyard("session", "create", "--template", template["template_id"], "--wait")
    async with client_for(platform, alice) as c:
        assert await _env(c, session["session_id"], "FROM") == ["template"]
    check = await shipyard("preset", "check")
    assert Decimal(check["keypair"]["using"]["amounts"]["cpu"]) == Decimal(1)
    assert isinstance(await shipyard("preset", "list"), list)
    await shipyard("session", "destroy", session["session_id"])
    await shipyard("session-template", "delete", template["template_id"])
    assert await shipyard("session-template", "list") == []


async def test_a_mounted_folder_cannot_be_deleted_or_renamed_until_the_session_ends(
    platform: Platform,
) -> None:
    alice = await ordinary_user(platform)
    folder = f"m-{secrets.token_hex(3)}"
    async with client_for(platform, alice) as c:
        vfolder = (await c.create_vfolder(folder))["vfolder_id"]
        await c.request("POST", f"/v1/vfolders/{vfolder}/files:mkdir", body={"path": "sub"})
        session = await c.create_session(mounts=[f"{folder}/sub:work"], wait=True)
        assert session["status"] == "SESSION_STATUS_RUNNING", session

        def status() -> str:
            return next(f["status"] for f in listed if f["vfolder_id"] == vfolder)

        listed = await c.list_vfolders()
        assert status() == "V_FOLDER_STATUS_MOUNTED"
        rename = {"vfolder": {"vfolder_id": vfolder, "name": "other"}, "update_mask": "name"}
        for call in (
            c.delete_vfolder(vfolder),
            c.request("PATCH", f"/v1/vfolders/{vfolder}", body=rename),
        ):
            with pytest.raises(ApiError) as err:
                await call
            assert err.value.status == 400 and "VFOLDER_MOUNTED" in str(err.value.body)

        await c.destroy_session(session["session_id"])
        await _ended(c, session["session_id"])
        listed = await c.list_vfolders()
        assert status() == "V_FOLDER_STATUS_READY"
        await c.request("PATCH", f"/v1/vfolders/{vfolder}", body=rename)
        await c.delete_vfolder(vfolder)
