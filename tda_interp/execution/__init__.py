"""Independent tasks and where they run: in-process, local processes, or Dask."""

from tda_interp.execution.cache import DiagramCache, default_cache_dir
from tda_interp.execution.executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from tda_interp.execution.tasks import RipsTask, TaskOutput, run_task, task_key

__all__ = [
    "DaskExecutor",
    "DiagramCache",
    "Executor",
    "ProcessExecutor",
    "RipsTask",
    "SerialExecutor",
    "TaskOutput",
    "default_cache_dir",
    "make_executor",
    "run_task",
    "task_key",
]
