"""The event buffer: read-and-flush, the groups filter, and no event lost."""

from __future__ import annotations

import exechost
from conftest import ThreadedBackend
from exechost import Event, EventBatch, TaskInfo, TaskState


def test_get_event_buffer_returns_then_forgets(instant):
    with exechost.load_executor(instant) as executor:
        executor.queue_command("a", ["true"])
    events = executor.get_event_buffer()
    assert isinstance(events, EventBatch)
    state, info = events["a"]
    assert state is TaskState.SUCCESS
    assert isinstance(events["a"], Event) and isinstance(info, TaskInfo)
    assert executor.get_event_buffer() == {}


def test_groups_filter_by_first_element_of_tuple_keys_and_by_string_keys(instant):
    with exechost.load_executor(instant) as executor:
        for key in [("etl", "extract"), ("etl", 2), ("report", "make"), "loose", (7, "seven")]:
            executor.queue_command(key, ["true"])
    etl = executor.get_event_buffer(groups=["etl", "loose"])
    assert set(etl) == {("etl", "extract"), ("etl", 2), "loose"}
    assert set(executor.get_event_buffer(groups={7})) == {(7, "seven")}
    assert executor.get_event_buffer(groups=["etl"]) == {}  # flushed already
    assert set(executor.get_event_buffer()) == {("report", "make")}


def test_a_key_that_changes_state_twice_between_reads_keeps_both_transitions(holding):
    with exechost.load_executor(holding) as executor:
        executor.queue_command("a", ["true"])
        executor.queue_command("b", ["true"])
        executor.heartbeat()
        executor.change_state("a", "running", TaskInfo(external_id="w1"))
        holding.finish("b", ok=False)
        holding.finish("a")
    events = executor.get_event_buffer()
    assert events["a"].state == "success"  # the mapping holds the latest event
    assert [event.state for event in events.history("a")] == ["running", "running", "success"]
    assert [(key, event.state) for key, event in events.transitions] == [
        ("a", "running"),  # the host's, when it handed the tasks over
        ("b", "running"),
        ("a", "running"),  # the backend's
        ("b", "failed"),
        ("a", "success"),
    ]
    assert events.history("missing") == []


def test_a_key_run_twice_between_reads_keeps_both_runs(instant):
    with exechost.load_executor(instant) as executor:
        executor.queue_command("again", ["true"])
        executor.heartbeat()
        executor.queue_command("again", ["true"])
    history = executor.get_event_buffer().history("again")
    assert [event.state for event in history] == ["running", "success"] * 2


def test_the_external_id_is_recorded_even_when_the_backend_reports_before_returning(instant):
    with exechost.load_executor(instant) as executor:
        executor.queue_command("a", ["true"])
    assert executor.get_event_buffer()["a"].info.external_id == "id-a"


def test_reports_from_other_threads_while_reading_lose_nothing():
    backend = ThreadedBackend(seconds=0.0005)
    seen: list[tuple[object, Event]] = []
    with exechost.load_executor(backend, parallelism=8) as executor:
        for number in range(300):
            executor.queue_command(("n", number), ["true"])
        while executor.queued_tasks or executor.running:
            executor.heartbeat()
            seen.extend(executor.get_event_buffer().transitions)
            executor.wait(0.01)
    seen.extend(executor.get_event_buffer().transitions)
    ended = [key[1] for key, event in seen if event.state.finished]  # type: ignore[index]
    assert sorted(ended) == list(range(300))
    assert len(seen) == 600  # and each one's running
