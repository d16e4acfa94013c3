"""Workflows kept alive in this process between requests, so that a step need not reload its document.

A run is kept under the key of the stored row it is the state of: (row id, row version), the version being the
optimistic-lock counter every write of the row increments. A request that reads the row and finds that very key
here takes the run instead of restoring the document; any other version (another process saved since, or this
one failed to) finds nothing and loads the row's document. Check-out semantics:

- `take` removes the run: while a request holds it no other thread can get it; a request that fails simply
  drops it (it may have run half a step);
- `put` is called by the caller layer only after the transaction that wrote the run's document committed, under
  the version that commit wrote; it refuses a run that moved on since its document was written, or whose values
  do not come back the same from JSON (`WorkflowRun.matches_document`);
- the oldest-used runs leave first when the count or the total of tasks (what memory grows with) passes the
  bound; runs of one row under an older version are dropped as soon as a newer one is put.

Every write of a workflow row must increment the version (the ORM's version counter does, and so does the
prebuilt UPDATE app.dossiers.rows writes a step with): a write that kept the version would leave a stale
run here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from app.engine.runtime import WorkflowRun

Key = tuple[int, int]  # (workflow row id, row version)


class LiveRuns:
    def __init__(self, size: int, max_tasks: int) -> None:
        self.size = size
        self.max_tasks = max_tasks
        self._runs: OrderedDict[Key, tuple[WorkflowRun, int]] = OrderedDict()
        self._rows: dict[int, Key] = {}  # one kept run per row at most
        self._tasks = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(self, key: Key, max_depth: int | None = None) -> WorkflowRun | None:
        """The run saved under exactly this row version, now owned by the caller; None if there is none."""
        with self._lock:
            if key not in self._runs:
                self.misses += 1
                kept = self._rows.get(key[0])
                if kept is not None and kept[1] < key[1]:
                    self._drop(kept)  # the row moved on elsewhere: that run will never serve again
                return None
            run = self._drop(key)
            self.hits += 1
        run.revive(max_depth)
        return run

    def put(self, key: Key, run: WorkflowRun) -> bool:
        """Keep `run` as the state of the row at this version (its document was committed as that version).

        False (the run is not kept) when it is not exactly its last document, or alone exceeds the bound."""
        if not run.matches_document() or self.size <= 0:
            return False
        tasks = run.task_count()
        if tasks > self.max_tasks:
            return False
        with self._lock:
            if key[0] in self._rows:
                self._drop(self._rows[key[0]])
            self._runs[key] = (run, tasks)
            self._rows[key[0]] = key
            self._tasks += tasks
            while len(self._runs) > self.size or self._tasks > self.max_tasks:
                self._drop(next(iter(self._runs)))
        return True

    def _drop(self, key: Key) -> WorkflowRun:
        run, tasks = self._runs.pop(key)
        del self._rows[key[0]]
        self._tasks -= tasks
        return run

    def discard(self, row_id: int) -> None:
        """Forget every run of this row."""
        with self._lock:
            if row_id in self._rows:
                self._drop(self._rows[row_id])

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
            self._rows.clear()
            self._tasks = 0

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def tasks(self) -> int:
        """The tasks held by the kept runs together."""
        return self._tasks
