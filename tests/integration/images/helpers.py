"""Calls the image tests share: register a registry, rescan it and wait for the task."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from shipyard.registry.v1 import container_registry_service_pb2 as cr_pb
from shipyard.registry.v1 import image_service_pb2 as img_pb

from tests.integration.images.conftest import Platform


async def add_registry(
    platform: Platform, name: str, url: str, **fields: object
) -> cr_pb.ContainerRegistry:
    reply = await platform.registries.CreateContainerRegistry(
        cr_pb.CreateContainerRegistryRequest(
            container_registry=cr_pb.ContainerRegistry(name=name, url=url, **fields)  # type: ignore[arg-type]
        ),
        metadata=platform.as_caller(platform.superadmin),
    )
    return reply.container_registry


async def rescan(platform: Platform, name: str, timeout: float = 30.0) -> cr_pb.RescanTask:
    """Start a rescan and poll its task until it ends."""
    started = await platform.registries.RescanContainerRegistry(
        cr_pb.RescanContainerRegistryRequest(name=name),
        metadata=platform.as_caller(platform.superadmin),
    )
    task = started.task
    deadline = time.monotonic() + timeout
    while task.state == cr_pb.RescanTask.STATE_RUNNING:
        assert time.monotonic() < deadline, f"rescan still running: {task}"
        await asyncio.sleep(0.05)
        reply = await platform.registries.GetRescanTask(
            cr_pb.GetRescanTaskRequest(task_id=task.task_id),
            metadata=platform.as_caller(platform.superadmin),
        )
        task = reply.task
    return task


async def all_images(
    platform: Platform, caller, page_size: int = 0, **filters
) -> list[img_pb.Image]:
    images: list[img_pb.Image] = []
    token = ""
    while True:
        page = await platform.images.ListImages(
            img_pb.ListImagesRequest(page_size=page_size, page_token=token, **filters),
            metadata=platform.as_caller(caller),
        )
        images += page.images
        token = page.next_page_token
        if not token:
            return images


def mask(*paths: str) -> FieldMask:
    return FieldMask(paths=list(paths))


async def expect_code(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    return err.value
