"""Independent tasks and where they run: in-process, local processes, or Dask; the diagram
cache; and the log that says a repeated warning once."""

from tda_interp.execution.cache import DiagramCache, default_cache_dir
from tda_interp.execution.cluster import ClusterExecutor, ClusterOptions
from tda_interp.execution.dispatch import open_cache, run_tasks
from tda_interp.execution.executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    executor_scope,
    make_executor,
)
from tda_interp.execution.tasks import RipsTask, TaskOutput, run_task, task_key
from tda_interp.execution.warnlog import WarningLog

__all__ = [
    "ClusterExecutor",
    "ClusterOptions",
    "DaskExecutor",
    "DiagramCache",
    "Executor",
    "ProcessExecutor",
    "RipsTask",
    "SerialExecutor",
    "TaskOutput",
    "WarningLog",
    "default_cache_dir",
    "executor_scope",
    "make_executor",
    "open_cache",
    "run_task",
    "run_tasks",
    "task_key",
]
