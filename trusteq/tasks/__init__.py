"""Tasks: one protocol (`trusteq.tasks.base.Task`), one implementation per kind of problem."""

from trusteq.tasks.base import CLASS_DISTRIBUTION, TEXT_INPUTS, Task, TaskConfigError

__all__ = ["CLASS_DISTRIBUTION", "TEXT_INPUTS", "Task", "TaskConfigError"]
