"""Cluster sessions: kernel roles, host names and the BACKENDAI_CLUSTER_* environment."""

from __future__ import annotations

from services.registry.domain.cluster import ClusterMember, cluster_environ, cluster_layout


def test_the_main_kernel_comes_first_then_numbered_subs() -> None:
    layout = cluster_layout(4)
    assert [p.hostname for p in layout] == ["main1", "sub1", "sub2", "sub3"]
    assert [p.role for p in layout] == ["main", "sub", "sub", "sub"]
    assert [p.idx for p in layout] == [1, 1, 2, 3]
    assert [p.local_rank for p in layout] == [0, 1, 2, 3]


def test_a_single_kernel_is_main1() -> None:
    (only,) = cluster_layout(1)
    assert (only.role, only.idx, only.local_rank, only.hostname) == ("main", 1, 0, "main1")


def test_every_kernel_sees_the_cluster_and_itself() -> None:
    members = [
        ClusterMember(f"k{p.local_rank}", p.role, p.idx, p.local_rank, p.hostname)
        for p in cluster_layout(3)
    ]
    env = cluster_environ(
        session_id="s1",
        session_name="train",
        access_key="AK",
        image="python:3.11",
        members=list(reversed(members)),
        me=members[2],
    )
    assert env["BACKENDAI_CLUSTER_SIZE"] == "3"
    assert env["BACKENDAI_CLUSTER_HOSTS"] == "main1,sub1,sub2"
    assert env["BACKENDAI_CLUSTER_REPLICAS"] == "main:1,sub:2"
    assert env["BACKENDAI_CLUSTER_HOST"] == "sub2"
    assert env["BACKENDAI_CLUSTER_ROLE"] == "sub"
    assert env["BACKENDAI_CLUSTER_IDX"] == "2"
    assert env["BACKENDAI_CLUSTER_LOCAL_RANK"] == "2"
    assert env["BACKENDAI_KERNEL_ID"] == "k2"
    assert env["BACKENDAI_SESSION_ID"] == "s1"
    assert env["BACKENDAI_SESSION_NAME"] == "train"
    assert env["BACKENDAI_ACCESS_KEY"] == "AK"
    assert env["BACKENDAI_KERNEL_IMAGE"] == "python:3.11"
