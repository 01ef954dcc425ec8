"""Registered destinations in the store, on SQLite and PostgreSQL: names, filters, pause, resume,
delete, and the destinations the settings manage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from store import (
    DeliveryStopped,
    DestinationNameTaken,
    DestinationNotFound,
    EventIn,
    NewDestination,
    NewTask,
    Observation,
    Registration,
    TaskSearch,
    TaskStore,
    open_store,
)

DONE = Observation("succeeded", 100, video_url="https://v/1.mp4")
FAILED = Observation("failed", error="out of credits")


def registration(name: str = "ops", **fields: Any) -> Registration:
    values: dict[str, Any] = {
        "name": name, "channel": "webhook", "target": f"sealed-{name}", "label": f"{name} hook",
        "route_key": f"route-{name}", "on": ("succeeded", "failed"),
    }
    values.update(fields)
    return Registration(**values)


@pytest.fixture
async def store(database: str) -> AsyncIterator[TaskStore]:
    opened = await open_store(database)
    yield opened
    await opened.close()


async def finish(
    store: TaskStore, number: int, seen: Observation = DONE, *, provider: str = "wave",
    metadata: dict[str, Any] | None = None, own: tuple[NewDestination, ...] = (),
) -> list[dict[str, Any]]:
    """A task that reaches `seen`: its deliveries."""
    task_id = f"tsk_{number:028d}"
    await store.create_task(NewTask(task_id, provider, "m", {"prompt": "p"}, metadata=metadata,
                                    destinations=own))
    await store.record_event(task_id, EventIn(f"e{number}", "callback", seen))
    return await store.outbox.deliveries(task_id=task_id)


async def test_a_destination_is_registered_read_renamed_and_deleted_by_name(
    store: TaskStore,
) -> None:
    first = await store.destinations.register(registration("ops", provider="wave",
                                                           metadata={"user": "42"}))
    assert first["name"] == "ops" and first["on_states"] == "succeeded,failed"
    assert first["metadata_filter"] == '{"user": "42"}' and first["paused"] == 0
    await store.destinations.register(registration("alerts"))
    assert [d["name"] for d in await store.destinations.all()] == ["alerts", "ops"]
    with pytest.raises(DestinationNameTaken):
        await store.destinations.register(registration("ops"))
    with pytest.raises(DestinationNameTaken):
        await store.destinations.change(first["id"], {"name": "alerts"})
    renamed = await store.destinations.change(first["id"], {"name": "night shift"})
    assert (await store.destinations.get(first["id"]))["name"] == renamed["name"] == "night shift"
    await store.destinations.delete(first["id"])
    with pytest.raises(DestinationNotFound):
        await store.destinations.get(first["id"])
    with pytest.raises(DestinationNotFound):
        await store.destinations.change(first["id"], {"paused": 1})
    again = await store.destinations.register(registration("night shift"))  # the name is free
    assert again["id"] != first["id"]


async def test_every_matching_task_notifies_a_registered_destination_once(
    store: TaskStore,
) -> None:
    hook = await store.destinations.register(
        registration("users", on=("succeeded",), provider="wave", metadata={"user": "42"})
    )
    assert [d["destination_id"] for d in await finish(store, 1, metadata={"user": "42"})] == [
        hook["id"]
    ]
    assert await finish(store, 2, metadata={"user": 42}) != []  # a number matches its text
    assert await finish(store, 3, FAILED, metadata={"user": "42"}) == []  # not one of its states
    assert await finish(store, 4, provider="piapi", metadata={"user": "42"}) == []
    assert await finish(store, 5, metadata={"user": "7"}) == []
    assert await finish(store, 6) == []  # no metadata at all
    everything = await store.destinations.register(registration("all", on=("failed",)))
    deliveries = await finish(store, 7, FAILED)
    assert [d["destination_id"] for d in deliveries] == [everything["id"]]


async def test_a_filter_matches_numbers_as_the_search_spells_them_on_both_databases(
    store: TaskStore,
) -> None:
    """The filter reads the values the search reads (kept as the client sent them), not the
    metadata as the database gives it back (PostgreSQL's jsonb spells 1e+20 in full)."""
    hook = await store.destinations.register(
        registration("big", on=("succeeded",), metadata={"n": "1e+20", "z": "-0.0"}))
    deliveries = await finish(store, 1, metadata={"n": 1e20, "z": -0.0, "other": "x"})
    assert [d["destination_id"] for d in deliveries] == [hook["id"]]
    assert await finish(store, 2, metadata={"n": 100000000000000000000, "z": -0.0}) == []
    found = await store.list_tasks(search=TaskSearch(metadata=(("n", "1e+20"),)))
    assert [task["id"] for task in found] == [f"tsk_{1:028d}"]


async def test_a_task_of_its_own_to_the_same_address_gets_one_notice(store: TaskStore) -> None:
    await store.destinations.register(registration("ops"))
    own = NewDestination("webhook", "sealed-own", "own hook", "route-ops")
    deliveries = await finish(store, 1, own=(own,))
    assert [d["label"] for d in deliveries] == ["own hook"]


async def test_queued_notices_reach_destinations_that_want_them(store: TaskStore) -> None:
    await store.destinations.register(registration("starts", on=("queued",)))
    task_id = f"tsk_{1:028d}"
    await store.create_task(NewTask(task_id, "wave", "m", {}))
    assert [d["state"] for d in await store.outbox.deliveries(task_id=task_id)] == ["queued"]


async def test_a_paused_destination_is_sent_nothing_until_resumed(store: TaskStore) -> None:
    hook = await store.destinations.register(registration("ops"))
    task_id = f"tsk_{1:028d}"
    await store.create_task(NewTask(task_id, "wave", "m", {}))
    await store.record_event(task_id, EventIn("a", "callback", Observation("running", 10)))
    await store.destinations.register(registration("late", on=("running", "succeeded")))
    waiting = await finish(store, 2)
    assert [d["status"] for d in waiting] == ["pending", "pending"]
    paused = await store.destinations.change(hook["id"], {"paused": 1})
    assert paused["paused"] == 1
    given_up = {d["destination_id"]: d for d in await store.outbox.deliveries(task_id=waiting[0]
                                                                                ["task_id"])}
    assert given_up[hook["id"]]["status"] == "dead"
    assert given_up[hook["id"]]["last_error"] == "destination paused"
    assert hook["id"] not in {d["destination_id"] for d in await finish(store, 3)}
    assert hook["id"] not in {d["destination_id"] for d in await finish(store, 4)}
    resumed = await store.destinations.resume(hook["id"])
    assert resumed["paused"] == 0 and resumed["disabled_reason"] is None
    assert hook["id"] in {d["destination_id"] for d in await finish(store, 5)}


async def test_a_notice_of_a_paused_or_deleted_destination_is_not_redelivered(
    store: TaskStore,
) -> None:
    hook = await store.destinations.register(registration("ops"))
    [waiting] = await finish(store, 1)
    await store.destinations.change(hook["id"], {"paused": 1})
    with pytest.raises(DeliveryStopped, match="'ops' is paused; resume it, then redeliver"):
        await store.outbox.redeliver(waiting["id"], time.time())
    [dead] = await store.outbox.deliveries(task_id=waiting["task_id"])
    assert (dead["status"], dead["last_error"]) == ("dead", "destination paused")
    await store.destinations.resume(hook["id"])
    again = await store.outbox.redeliver(waiting["id"], time.time())
    assert again["status"] == "pending"
    await store.destinations.delete(hook["id"])  # which ends the pending notice as dead
    with pytest.raises(DeliveryStopped, match="'ops' was deleted"):
        await store.outbox.redeliver(waiting["id"], time.time())


async def test_the_settings_destinations_follow_the_settings(store: TaskStore) -> None:
    slack = registration("settings-slack", channel="slack", managed_by="settings")
    assert await store.destinations.sync_managed("settings", [slack]) == ["settings-slack"]
    first = (await store.destinations.all())[0]
    await store.destinations.change(first["id"], {"paused": 1})
    assert await store.destinations.sync_managed("settings", [slack]) == []
    kept = (await store.destinations.all())[0]
    assert kept["id"] == first["id"] and kept["paused"] == 1  # an operator's pause stays
    moved = registration("settings-slack", channel="slack", managed_by="settings",
                         target="sealed-new", route_key="route-new", on=("failed",))
    await store.destinations.sync_managed("settings", [moved])
    changed = (await store.destinations.all())[0]
    assert (changed["target"], changed["route_key"], changed["on_states"]) == (
        "sealed-new", "route-new", "failed")
    await store.destinations.register(registration("mine"))
    await store.destinations.sync_managed("settings", [])
    assert [d["name"] for d in await store.destinations.all()] == ["mine"]


async def test_two_registered_destinations_of_one_address_give_one_notice(
    store: TaskStore,
) -> None:
    first = await store.destinations.register(registration("a", route_key="route-shared"))
    await store.destinations.register(registration("b", route_key="route-shared"))
    assert [d["destination_id"] for d in await finish(store, 1)] == [first["id"]]


async def test_resuming_one_destination_leaves_another_of_its_address_paused(
    store: TaskStore,
) -> None:
    a = await store.destinations.register(registration("a", route_key="route-shared"))
    b = await store.destinations.register(registration("b", route_key="route-shared"))
    await store.destinations.change(b["id"], {"paused": 1})
    await store.destinations.resume(a["id"])
    assert (await store.destinations.get(b["id"]))["paused"] == 1


async def test_starts_syncing_the_settings_at_once_take_turns(store: TaskStore) -> None:
    slack = registration("settings-slack", channel="slack", managed_by="settings")
    email = registration("settings-email", channel="email", managed_by="settings")
    for _ in range(5):
        results = await asyncio.gather(
            *(store.destinations.sync_managed("settings", wanted)
              for wanted in ([slack, email], [slack], [], [email]) * 3),
        )
        assert sum(len(added) for added in results) >= 1
    names = [d["name"] for d in await store.destinations.all()]
    assert len(names) == len(set(names))


async def test_due_deliveries_of_a_stopped_destination_are_given_up(store: TaskStore) -> None:
    hook = await store.destinations.register(registration("ops"))
    [delivery] = await finish(store, 1)
    now = time.time()
    assert await store.outbox.give_up([delivery["id"]], "destination paused", now + 1,
                                      now - 60) == 1
    [ended] = await store.outbox.deliveries(delivery_id=delivery["id"])
    assert (ended["status"], ended["last_error"]) == ("dead", "destination paused")
    [claimed_one] = await finish(store, 2)
    await store.outbox.claim([claimed_one["id"]], "other", now + 1, now - 60)
    # held by a live worker (a fresh claim): not due, left alone
    assert await store.outbox.give_up([claimed_one["id"]], "x", now + 1, now - 60) == 0
    assert hook["id"] == ended["destination_id"]
