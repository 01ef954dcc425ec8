"""Cancelling a task nobody has started sending is one atomic step against the send queue."""

from __future__ import annotations

from store import EventIn, NewTask, Observation, open_store

CANCEL = EventIn(
    "cancel:held", "client", Observation("cancelled", error="cancelled by client"),
    only_if_unsent=True,
)


async def test_cancel_unsent_wins_over_a_later_claim(database: str) -> None:
    store = await open_store(database)
    try:
        await store.create_task(NewTask("tsk_held", "wave", "skyreels-v4-fast", {}))
        outcome = await store.record_event("tsk_held", CANCEL)
        assert outcome.recorded and outcome.task["status"] == "cancelled"
        assert await store.submits.claim_slot("tsk_held", "wave", 5) is False
        task = await store.get_task("tsk_held")
        assert (task["status"], task["submit_state"]) == ("cancelled", "withdrawn")
    finally:
        await store.close()


async def test_cancel_unsent_leaves_a_task_already_being_sent(database: str) -> None:
    store = await open_store(database)
    try:
        await store.create_task(NewTask("tsk_going", "wave", "skyreels-v4-fast", {}))
        assert await store.submits.claim_slot("tsk_going", "wave", 5) is True
        outcome = await store.record_event("tsk_going", CANCEL)
        assert (outcome.recorded, outcome.changed) == (False, False)
        task = await store.get_task("tsk_going")
        assert (task["status"], task["submit_state"]) == ("queued", "sending")
        assert await store.task_events("tsk_going") == []
    finally:
        await store.close()


async def test_claim_slot_never_takes_a_cancelled_task(database: str) -> None:
    store = await open_store(database)
    try:
        task_id = "tsk_" + "1" * 28
        await store.create_task(NewTask(id=task_id, provider="wave", model="skyreels-v4-fast",
                                        request={}))
        await store.submits.hold(task_id, "sealed", 0.0)
        held = await store.submits.held(1e12)
        assert [row["id"] for row in held] == [task_id]
        seen = Observation("cancelled", error="cancelled by client before it was sent")
        await store.record_event(task_id, EventIn("cancel:held", "client", seen))
        # The queue read the held row before the cancel; its claim must now fail.
        assert await store.submits.claim_slot(task_id, "wave", 5) is False
        assert await store.submits.claim_slot(task_id, "wave", 0) is False
        task = await store.get_task(task_id)
        assert task["status"] == "cancelled" and task["submit_state"] == "pending"
    finally:
        await store.close()
