"""Sharing folders through the edge, as ordinary users of one domain and a user of another."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.cli_as_user import cli_ok
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e


@dataclass
class Person:
    email: str
    client: ShipyardClient


@pytest.fixture
async def people(platform: Platform) -> AsyncIterator[dict[str, Person]]:
    """alice, bob and carol in the default domain and project; dave in a domain of his own."""
    assert platform.keypair is not None
    tag = secrets.token_hex(3)
    found: dict[str, Person] = {}
    for name in ("alice", "bob", "carol"):
        email = f"{name}-{tag}@example.com"
        keys = await ordinary_user(platform, email)
        found[name] = Person(
            email, ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key)
        )
    root = ShipyardClient(
        platform.endpoint, platform.keypair.access_key, platform.keypair.secret_key
    )
    async with root:
        domain = f"other-{tag}"
        await root.request("POST", "/v1/domains", body={"name": domain, "is_active": True})
        email = f"dave-{tag}@example.com"
        user = await root.request(
            "POST",
            "/v1/users",
            body={
                "user": {"email": email, "domain_name": domain, "role": "ROLE_USER"},
                "password": secrets.token_urlsafe(16),
            },
        )
        issued = await root.request(
            "POST", f"/v1/users/{user['user']['user_id']}/keypairs", body={}
        )
    found["dave"] = Person(
        email,
        ShipyardClient(platform.endpoint, issued["keypair"]["access_key"], issued["secret_key"]),
    )
    for person in found.values():
        await person.client.__aenter__()
    yield found
    for person in found.values():
        await person.client.close()


async def _status(call: Any) -> tuple[int, str]:
    try:
        await call
    except ApiError as err:
        return err.status, str(err.body)
    return 200, ""


async def _names(client: ShipyardClient) -> set[str]:
    return {f["name"] for f in await client.list_vfolders()}


async def test_invitations_give_access_and_only_the_parties_act_on_them(
    people: dict[str, Person],
) -> None:
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    name = f"results-{secrets.token_hex(3)}"
    folder = (await alice.client.create_vfolder(name))["vfolder_id"]
    invite = f"/v1/vfolders/{folder}:invite"

    status, body = await _status(
        alice.client.request(
            "POST",
            invite,
            body={"emails": [bob.email, dave.email], "permission": "MOUNT_PERMISSION_READ_WRITE"},
        )
    )
    assert status == 404 and dave.email in body and "USERS_NOT_FOUND" in body
    assert (await bob.client.request("GET", "/v1/vfolder-invitations")).get("invitations", []) == []

    made = await alice.client.request(
        "POST", invite, body={"emails": [bob.email], "permission": "MOUNT_PERMISSION_READ_WRITE"}
    )
    again = await alice.client.request("POST", invite, body={"emails": [bob.email]})
    invitation = made["invitations"][0]
    assert again["invitations"][0]["invitation_id"] == invitation["invitation_id"]
    received = (await bob.client.request("GET", "/v1/vfolder-invitations"))["invitations"]
    assert [(i["vfolder_name"], i["state"]) for i in received] == [(name, "pending")]

    accept = f"/v1/vfolder-invitations/{invitation['invitation_id']}:accept"
    assert (await _status(carol.client.request("POST", accept, body={})))[0] == 404
    await bob.client.request("POST", accept, body={})
    # Access is not ownership: bob cannot invite others to alice's folder.
    assert (
        await _status(
            bob.client.request(
                "POST", f"/v1/vfolders/{folder}:invite", body={"emails": [carol.email]}
            )
        )
    )[0] == 403
    assert name in await _names(bob.client)
    assert name not in await _names(carol.client)
    await bob.client.request(
        "POST", f"/v1/vfolders/{folder}/files:mkdir", body={"path": "from-bob"}
    )
    status, _ = await _status(bob.client.delete_vfolder(folder))
    assert status == 403  # rw, not wd

    # Carol rejects hers; accepting afterwards is refused.
    hers = (await alice.client.request("POST", invite, body={"emails": [carol.email]}))[
        "invitations"
    ][0]["invitation_id"]
    await carol.client.request("POST", f"/v1/vfolder-invitations/{hers}:reject", body={})
    status, body = await _status(
        carol.client.request("POST", f"/v1/vfolder-invitations/{hers}:accept", body={})
    )
    assert status == 400 and "NOT_PENDING" in body

    # Bob leaves: the folder is gone from his list, and alice's stays intact.
    await bob.client.request("POST", f"/v1/vfolders/{folder}:leave", body={})
    assert name not in await _names(bob.client)
    listing = await alice.client.request("GET", f"/v1/vfolders/{folder}/files")
    assert [e["name"] for e in listing["entries"]] == ["from-bob"]


async def test_accepting_a_folder_whose_name_one_already_has_is_refused(
    people: dict[str, Person],
) -> None:
    alice, bob = people["alice"], people["bob"]
    name = f"data-{secrets.token_hex(3)}"
    folder = (await alice.client.create_vfolder(name))["vfolder_id"]
    await bob.client.create_vfolder(name)
    made = await alice.client.request(
        "POST", f"/v1/vfolders/{folder}:invite", body={"emails": [bob.email]}
    )
    invitation = made["invitations"][0]["invitation_id"]
    status, body = await _status(
        bob.client.request("POST", f"/v1/vfolder-invitations/{invitation}:accept", body={})
    )
    assert status == 409 and "VFOLDER_NAME_CLASH" in body
    await alice.client.request("POST", f"/v1/vfolder-invitations/{invitation}:cancel", body={})
    sent = await alice.client.request("GET", "/v1/vfolder-invitations", params={"sent": "true"})
    assert invitation not in {i["invitation_id"] for i in sent.get("invitations", [])}


async def test_a_read_only_share_is_read_only_in_a_kernel(people: dict[str, Person]) -> None:
    alice, carol = people["alice"], people["carol"]
    name = f"dataset-{secrets.token_hex(3)}"
    folder = (await alice.client.create_vfolder(name))["vfolder_id"]
    made = await alice.client.request(
        "POST",
        f"/v1/vfolders/{folder}:invite",
        body={"emails": [carol.email], "permission": "MOUNT_PERMISSION_READ_ONLY"},
    )
    invitation = made["invitations"][0]["invitation_id"]
    await carol.client.request("POST", f"/v1/vfolder-invitations/{invitation}:accept", body={})
    writer = await alice.client.create_session(vfolder_names=[name], wait=True)
    wrote = await alice.client.execute(
        writer["session_id"], f"echo rows > {name}/data.csv", mode="batch"
    )
    assert wrote["exit_code"] == 0, wrote
    await alice.client.destroy_session(writer["session_id"])

    session = await carol.client.create_session(vfolder_names=[name], wait=True)
    read = await carol.client.execute(
        session["session_id"], f"cat {name}/data.csv && touch {name}/mine", mode="batch"
    )
    assert read["stdout"].startswith("rows")
    assert read["exit_code"] != 0 and "Read-only file system" in read["stdout"] + read.get(
        "stderr", ""
    )
    await carol.client.destroy_session(session["session_id"])
    status, _ = await _status(
        carol.client.request("POST", f"/v1/vfolders/{folder}/files:mkdir", body={"path": "x"})
    )
    assert status == 403


async def test_project_folders_are_shared_to_members_only(people: dict[str, Person]) -> None:
    alice, bob, dave = people["alice"], people["bob"], people["dave"]
    projects = await alice.client.request("GET", "/v1/identity")
    project_id = projects["identity"]["project_ids"][0]
    created = await alice.client.request(
        "POST",
        "/v1/vfolders",
        body={
            "name": f"team-{secrets.token_hex(3)}",
            "project_id": project_id,
            "permission": "MOUNT_PERMISSION_READ_ONLY",
        },
    )
    folder = created["vfolder"]["vfolder_id"]
    mkdir = f"/v1/vfolders/{folder}/files:mkdir"
    assert (await _status(bob.client.request("POST", mkdir, body={"path": "a"})))[0] == 403
    share = f"/v1/vfolders/{folder}:share"
    status, body = await _status(
        alice.client.request(
            "POST",
            share,
            body={"emails": [dave.email], "permission": "MOUNT_PERMISSION_READ_WRITE"},
        )
    )
    assert status == 404 and dave.email in body
    assert (
        await _status(
            bob.client.request(
                "POST",
                share,
                body={"emails": [bob.email], "permission": "MOUNT_PERMISSION_READ_WRITE"},
            )
        )
    )[0] == 403
    await alice.client.request(
        "POST", share, body={"emails": [bob.email], "permission": "MOUNT_PERMISSION_READ_WRITE"}
    )
    await bob.client.request("POST", mkdir, body={"path": "a"})
    await alice.client.request(
        "POST", f"/v1/vfolders/{folder}:unshare", body={"emails": [bob.email]}
    )
    assert (await _status(bob.client.request("POST", mkdir, body={"path": "b"})))[0] == 403
    assert (await _status(dave.client.request("GET", f"/v1/vfolders/{folder}/files")))[0] == 404


async def test_the_cli_invites_accepts_renames_trashes_and_restores(platform: Platform) -> None:
    tag = secrets.token_hex(3)
    alice_email, bob_email = f"alice-{tag}@example.com", f"bob-{tag}@example.com"
    alice = await ordinary_user(platform, alice_email)
    bob = await ordinary_user(platform, bob_email)
    name = f"cli-{tag}"
    await cli_ok(platform, alice, "vfolder", "create", name)
    invited = await cli_ok(
        platform, alice, "vfolder", "invite", name, bob_email, "--permission", "rw"
    )
    invitation = invited.split()[0]
    received = await cli_ok(platform, bob, "vfolder", "invitations")
    assert invitation in received and name in received and alice_email in received
    await cli_ok(platform, bob, "vfolder", "accept", invitation)
    # rw: bob writes into alice's folder
    await cli_ok(platform, bob, "vfolder", "mkdir", name, "from-bob")
    assert "from-bob/" in await cli_ok(platform, alice, "vfolder", "ls", name)
    await cli_ok(platform, alice, "vfolder", "rename", name, f"{name}-v2")
    assert await cli_ok(platform, alice, "vfolder", "trash") == ""
    async with ShipyardClient(platform.endpoint, alice.access_key, alice.secret_key) as c:
        folder_id = next(
            f["vfolder_id"] for f in await c.list_vfolders() if f["name"] == f"{name}-v2"
        )
    await cli_ok(platform, alice, "vfolder", "delete", folder_id)
    assert folder_id in await cli_ok(platform, alice, "vfolder", "trash")
    await cli_ok(platform, alice, "vfolder", "restore", folder_id)
    assert await cli_ok(platform, alice, "vfolder", "trash") == ""
