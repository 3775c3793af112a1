"""A run as named steps: what each step does, to which items, or why it is skipped; and the one runner that
carries out a list of them, for the factory and the notebooks alike.

A `Step` is a plain value: it names, describes and orders its items and says how the runner goes through them
(in batches, each batch waiting for the ones before it, its items up to `parallelism` at a time), but it holds
nothing that does the work. The caller gives that to `run_steps`, one `StepAction` per step name: the call for one
item, and what to record once an item is done. The step lists are built from plans (`portal.deploy.steps`,
`portal.databricks.steps`), so what `portal plan` prints and what apply runs come from the same place.

Events: a step that runs sends STEP_STARTED, one OBJECT_DONE per item (counted: `[3/5]`), and STEP_FINISHED; a
skipped step sends nothing. The run's own FAILED and FINISHED events are the caller's (apply puts stopped triggers
back before it reports a failure).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any, TypeVar

from portal.errors import ErrorCode, PortalError
from portal.events import OBJECT_DONE, STEP_FINISHED, STEP_STARTED, Event, EventSink


@dataclass(frozen=True)
class Step:
    """One named step of a deploy. Printable and serializable (`as_json`); running it takes `run_steps`."""

    name: str  # also the `step` of its events
    description: str  # what it does, in words
    items: tuple[str, ...] = ()  # what it acts on (object labels, trigger names, paths), in plan order
    skipped_because: str | None = None  # why it does nothing ("no trigger changes"); None when it runs
    # How the runner goes through the items: batch after batch (each waits for the ones before it to be done), the
    # items of a batch up to `parallelism` at a time (1: one after the other, in the runner's own thread). A
    # failure ends the step once its batch is done; the first failure is the one raised.
    batches: tuple[tuple[str, ...], ...] = ()
    parallelism: int = 1
    reports_as_done: bool = False  # each item's event as soon as it is done (else in item order)
    done_word: str = ""  # the message of an item's OBJECT_DONE ("deployed")
    noun: str = ""  # what the events call an item: "trigger" makes "trigger TR_Daily"; "" the item itself
    failure_noun: str | None = None  # what a failure calls an item ("notebook"); None: as the events do
    counted: bool = True  # events count the items; otherwise its start and finish events name its one item

    @property
    def runs(self) -> bool:
        return self.skipped_because is None

    def subject(self, item: str) -> str:
        """The item as the step's events name it."""
        return f"{self.noun} {item}" if self.noun else item

    def where(self, item: str) -> str:
        """The item as a failure of it is located."""
        return self.subject(item) if self.failure_noun is None else f"{self.failure_noun} {item}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["batches"] = [list(batch) for batch in self.batches]
        data["items"] = list(self.items)
        return data


@dataclass(frozen=True)
class StepAction:
    """How the caller carries out one step's items: `run` does one item (in a worker thread when the step runs
    items in parallel); `record` notes it done, in the runner's thread, before the item's event goes out.
    `before_batch` is called with the subject of a batch's first item before the batch starts (a deadline check:
    what it raises ends the run as it is); `at_start` once, before the step's first event."""

    run: Callable[[str], None]
    record: Callable[[str], None] | None = None
    before_batch: Callable[[str], None] | None = None
    at_start: Callable[[], None] | None = None


class StepFailed(Exception):
    """An item of a step failed: `where` locates it as the step does, `error` is what it raised."""

    def __init__(self, step: Step, item: str, error: Exception):
        self.step = step
        self.item = item
        self.where = step.where(item)
        self.error = error
        super().__init__(f"{self.where}: {error}")


def run_steps(steps: Iterable[Step], actions: Mapping[str, StepAction], sink: EventSink) -> None:
    """Carry out `steps` in order with the caller's `actions` (by step name), reporting to `sink`.

    An item that fails raises `StepFailed` once its batch is done (the other items of the batch end first); an
    error of the sink is raised as it is, also once the batch is done, and never hides an item's failure before
    it. Skipped steps are passed over without an event."""
    for step in steps:
        if not step.runs:
            continue
        action = actions[step.name]
        if action.at_start is not None:
            action.at_start()
        total = len(step.items)
        if step.counted:
            sink(Event(STEP_STARTED, step.name, total=total))
        else:
            sink(Event(STEP_STARTED, step.name, step.subject(step.items[0])))
        done = 0
        pool = ThreadPoolExecutor(max_workers=step.parallelism) if step.parallelism > 1 else None
        try:
            for batch in step.batches:
                if action.before_batch is not None:
                    action.before_batch(step.subject(batch[0]))
                failure: Exception | None = None
                for item, error in _outcomes(step, batch, action, pool):
                    if error is not None:  # the batch's other items go on; the first failure is raised after
                        failure = failure or StepFailed(step, item, error)
                        continue
                    done += 1
                    if action.record is not None:
                        action.record(item)
                    if step.counted:
                        try:
                            sink(Event(OBJECT_DONE, step.name, step.subject(item), step.done_word, done, total))
                        except Exception as sink_error:  # the sink failed (audit store): let the batch end
                            failure = failure or sink_error
                if failure is not None:
                    raise failure
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        if step.counted:
            sink(Event(STEP_FINISHED, step.name, done=done, total=total))
        else:
            sink(Event(STEP_FINISHED, step.name, step.subject(step.items[0])))


def _outcomes(
    step: Step, batch: tuple[str, ...], action: StepAction, pool: ThreadPoolExecutor | None
) -> Iterator[tuple[str, Exception | None]]:
    """Each item of the batch with what it raised (None when it went through): in item order, or as they finish
    when the step reports as done. Only `Exception`s are caught; an interrupt goes straight up."""
    if pool is None:
        for item in batch:
            try:
                action.run(item)
            except Exception as error:  # noqa: BLE001 - the runner names it and raises the first
                yield item, error
                continue
            yield item, None
        return
    futures: dict[Future[None], str] = {pool.submit(action.run, item): item for item in batch}
    for future in as_completed(futures) if step.reports_as_done else list(futures):
        try:
            future.result()
        except Exception as error:  # noqa: BLE001 - the runner names it and raises the first
            yield futures[future], error
            continue
        yield futures[future], None


# --- dependency order ------------------------------------------------------------------------------------------

T = TypeVar("T", bound=Hashable)


def dependency_levels(items: Sequence[T], waits_for: Mapping[T, Iterable[T]]) -> list[list[T]]:
    """`items` grouped into levels, each waiting only for the levels before it (`TopologicalSorter`'s
    `get_ready()`, a whole level marked `done()` before the next). What an item waits for outside `items` is
    ignored (for the factory: an object not written is already live), and so is an item waiting for itself.
    Within a level, items keep their order in `items`. Raises `graphlib.CycleError` on a cycle."""
    position = {item: index for index, item in enumerate(items)}
    sorter: TopologicalSorter[T] = TopologicalSorter()
    for item in items:
        sorter.add(item, *(d for d in waits_for.get(item, ()) if d in position and d != item))
    sorter.prepare()
    levels = []
    while sorter.is_active():
        level = sorted(sorter.get_ready(), key=position.__getitem__)
        levels.append(level)
        sorter.done(*level)
    return levels


def cycle_refused(error: CycleError, where: str, describe: Callable[[Any], str] = str) -> PortalError:
    """The refusal of a dependency cycle, naming the objects around it, each depending on the next."""
    # CycleError lists each node as a predecessor of the next (what it waits for comes first): turned around,
    # each object is followed by the one it depends on, as the source checks name reference cycles.
    cycle = list(reversed(error.args[1]))
    return PortalError(
        where,
        "these objects to deploy depend on each other in a circle: "
        + " → ".join(describe(node) for node in cycle)
        + "; nothing was written",
        hint="remove one of these references: the source checks should have refused this cycle",
        code=ErrorCode.DEPENDENCY_CYCLE,
    )


def sequential_step(
    name: str, description: str, items: tuple[str, ...], skipped_because: str | None, *, done_word: str, noun: str = ""
) -> Step:
    """A step that goes one item after the other and stops at the first failure."""
    if skipped_because is not None:
        return Step(name, description, skipped_because=skipped_because)
    return Step(name, description, items, batches=tuple((item,) for item in items), done_word=done_word, noun=noun)
