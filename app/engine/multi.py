"""Multi-instance tasks as the platform runs them: every instance's form data kept, sequential or parallel.

SpiffWorkflow 3.2 has two gaps for a procedure that sends one step to several departments (one instance per item
of a list, `loopDataInputRef` + `inputDataItem`):

- with no output collection, it merges each finished instance's data into the task's, so the last instance
  to finish overwrites the fields the others filled in (and its input item leaks into the process data); a
  SEQUENTIAL task then refuses to create its next instance ("Multiinstance input item … already exists"), so
  the dossier stops after the first department;
- with an output collection, only the output item of each instance is kept (which is what BPMN says).

Here a person's task (a user task) without an output collection collects instead of merging: each instance's form
fields (those the person submitted, recorded by `WorkflowRun.complete` under SUBMITTED_KEY) with its input item, one
entry per item in the order of the input (a dict input gives a dict by key), in the variable `collection_name(task
id)`, i.e. ``ket_qua_<task id>``, which later conditions read (``all(k['dat'] for k in ket_qua_Task_ThamDinh)``).
Nothing else of an instance reaches the process data, so the input item never exists there and the sequential task
goes on to its next item. A task with an output collection keeps SpiffWorkflow's behaviour; so does a sub-process,
call activity or service task run once per item, except that its item is not merged (the sequential case then runs
too).
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask as _MultiInstanceMixin
from SpiffWorkflow.spiff.specs.defaults import ParallelMultiInstanceTask as _SpiffParallel
from SpiffWorkflow.spiff.specs.defaults import SequentialMultiInstanceTask as _SpiffSequential

# Internal data of an instance: the names of the fields its person submitted.
SUBMITTED_KEY = "motcua_submitted"
COLLECTION_PREFIX = "ket_qua_"


def collection_name(task_id: str) -> str:
    """The variable collecting a multi-instance task's instances when it declares no output collection."""
    return f"{COLLECTION_PREFIX}{task_id}"


class _Collecting(_MultiInstanceMixin):
    def _collects(self) -> bool:
        """People's steps without an output collection are collected; anything else keeps SpiffWorkflow's way."""
        return (self.data_output is None or self.output_item is None) and self._of_people()

    def _of_people(self) -> bool:
        spec = self._wf_spec.task_specs.get(self.task_spec) if self._wf_spec is not None else None
        return bool(getattr(spec, "manual", False))

    def _update_hook(self, my_task: Any) -> Any:
        """A new round of the task starts its collection afresh (empty when the input is: it always exists after
        the task)."""
        if self._collects():
            source = self.data_input.get(my_task) if self.data_input is not None and self.data_input.exists(
                my_task) else None
            my_task.data[collection_name(self.bpmn_id)] = {} if isinstance(source, Mapping) else []
        return super()._update_hook(my_task)

    def merge_child(self, workflow: Any, child: Any) -> None:
        if not self._collects():
            if (self.data_output is None or self.output_item is None) and self.input_item is not None:
                # A sub-process or service task run once per item: its data merged as SpiffWorkflow merges it,
                # without its item (which would stop a sequential task's next instance).
                child.data.pop(self.input_item.bpmn_id, None)
            super().merge_child(workflow, child)
            return
        my_task = child.parent
        entry = {name: deepcopy(child.data[name]) for name in child.internal_data.get(SUBMITTED_KEY) or []
                 if name in child.data}
        if self.input_item is not None and self.input_item.bpmn_id in child.data:
            entry[self.input_item.bpmn_id] = deepcopy(child.data[self.input_item.bpmn_id])
        name = collection_name(self.bpmn_id)
        key = child.internal_data.get("key_or_index")
        if key is None:
            key = child.internal_data.get("item")
        source = self.data_input.get(my_task) if self.data_input is not None and self.data_input.exists(my_task) \
            else None
        if isinstance(source, Mapping):
            collected = my_task.data.get(name)
            collected = dict(collected) if isinstance(collected, Mapping) else {}
            collected[str(key)] = entry
        else:
            size = len(source) if source is not None and hasattr(source, "__len__") else (
                my_task.internal_data.get("cardinality") or 0)
            collected = list(my_task.data.get(name) or [])
            if isinstance(key, int) and 0 <= key < max(size, key + 1):
                collected.extend([None] * (max(size, key + 1) - len(collected)))
                collected[key] = entry
            else:
                collected.append(entry)
        my_task.data[name] = collected
        my_task.internal_data["merged"].append(str(child.id))


class MotcuaParallelMultiInstance(_SpiffParallel, _Collecting):
    """Parallel multi-instance that collects its instances' data when it has no output collection."""


class MotcuaSequentialMultiInstance(_SpiffSequential, _Collecting):
    """Sequential multi-instance that collects its instances' data when it has no output collection (and so goes
    on to its next item instead of raising)."""


def is_instance(task: Any) -> bool:
    """Whether a task is one instance of a multi-instance task (its parent's spec is one)."""
    parent = task.parent
    return parent is not None and isinstance(parent.task_spec, _MultiInstanceMixin)
