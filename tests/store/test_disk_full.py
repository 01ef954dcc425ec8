"""A full disk leaves nothing half-done: a submit is recorded whole and sent, or not recorded;
work recorded before goes on once space is back, without a restart. Runs on a real, small
tmpfs filesystem (mounting one needs root, which this project's test machines have)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver.settings import DEFAULT_MAX_IN_FLIGHT
from tests.helpers import onemin, piapi_callback, post_callback, skyreels, until, wait_for_status


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, room: int = 0) -> Path:
    """Fill the filesystem to the last byte, then free `room` bytes (so it fills up again in
    the middle of what comes next)."""
    filler = disk / "filler"
    spare = disk / "spare"
    spare.write_bytes(b"\0" * room)
    with filler.open("wb", buffering=0) as out:
        for size in (64 * 1024, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    with pytest.raises(OSError) as caught:
        (disk / "probe").write_bytes(b"\0" * 4096)
    assert caught.value.errno == errno.ENOSPC
    spare.unlink()
    return filler


# Room left on the disk when the burst starts: none, or enough for some of it to commit first.
@pytest.mark.parametrize("room", [0, 128 * 1024, 256 * 1024])
async def test_a_full_disk_records_nothing_half_done_and_work_goes_on_once_space_is_back(
    start_app: Any, piapi_sim: Any, small_disk: Path, caplog: pytest.LogCaptureFixture, room: int
) -> None:
    piapi_sim.script.drop_callbacks = True
    caplog.set_level(logging.INFO)
    caps = {**DEFAULT_MAX_IN_FLIGHT, "piapi": 1}
    client = await start_app(database=str(small_disk / "reelhook.db"), max_in_flight=caps)
    first = await (await client.post("/v1/tasks", json=skyreels(prompt="first"))).json()
    held = await (await client.post("/v1/tasks", json=skyreels(prompt="held"))).json()
    assert len(piapi_sim.received) == 1 and held["status"] == "queued"

    filler = fill(small_disk, room)
    answers = await asyncio.gather(*(
        client.post("/v1/tasks", json=skyreels(prompt=f"burst {n} " + "x" * 2000))
        for n in range(80)
    ))
    accepted, refused = [], []
    for answer in answers:
        body = await answer.json()
        assert answer.status in (202, 503), body
        (accepted if answer.status == 202 else refused).append(body)
    assert refused, "the disk never filled up"
    for body in refused:
        assert "full" in body["error"]["message"] and "busy" not in body["error"]["message"]
    assert "disk full" in caplog.text

    listed = (await (await client.get("/v1/tasks?limit=200")).json())["tasks"]
    expected = {first["id"], held["id"], *(task["id"] for task in accepted)}
    assert {task["id"] for task in listed} == expected  # nothing recorded that was refused
    assert all(task["status"] == "queued" for task in listed)

    filler.unlink()  # space is back; no restart
    secret = piapi_sim.received[0]["body"]["config"]["webhook_config"]["secret"]
    first = await (await client.get(f"/v1/tasks/{first['id']}")).json()
    done = piapi_callback(first, "completed", output={"video_url": "https://cdn.example/v.mp4"})
    answer = await post_callback(client, f"/callbacks/piapi/{first['id']}", done, secret)
    assert answer.status == 200
    assert (await wait_for_status(client, first["id"]))["status"] == "succeeded"
    for _ in range(500):  # the held task is sent now that a slot is free
        if len(piapi_sim.received) >= 2:
            break
        await asyncio.sleep(0.02)
    assert piapi_sim.received[1]["body"]["input"]["prompt"] == "held"
    again = await client.post("/v1/tasks", json=skyreels(prompt="after"))
    assert again.status == 202


async def test_an_answer_that_arrives_while_the_disk_is_full_is_recorded_once_space_is_back(
    start_app: Any, onemin_sim: Any, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    onemin_sim.script.delay = 3.0  # the window in which the disk fills up
    client = await start_app(database=str(small_disk / "reelhook.db"))
    task = await (await client.post("/v1/tasks", json=onemin())).json()
    await until(lambda: onemin_sim.in_flight == 1)
    filler = fill(small_disk, 0)
    await until(lambda: "retrying until it is stored" in caplog.text, timeout=30)
    assert (await (await client.get(f"/v1/tasks/{task['id']}")).json())["status"] == "queued"
    filler.unlink()  # space is back; no restart
    done = await wait_for_status(client, task["id"], timeout=30)
    assert done["status"] == "succeeded" and done["video_url"]

