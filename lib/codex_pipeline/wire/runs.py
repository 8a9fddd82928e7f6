"""A Workflow run as the pipeline records and reads it: the store's row, Argo's status, the outcome.

The store keeps :class:`WorkflowRun` rows and their outcomes; the submitter reads a Workflow's
:class:`WorkflowState` back from Argo; the retry decision (:mod:`codex_pipeline.core.retry`)
reads both without touching either. Shapes only, so the decision core can use them while the
store and the submitter (``effects``) fill them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SHUTDOWN_STOP = "Stop"
ANNOTATION_STOP_REASON = "codex.stop-reason"  # why the pipeline stopped it; empty until then


@dataclass(frozen=True)
class WorkflowState:
    """What the controller wrote of one Workflow: ``phase`` ('' before it started, Pending, Running,
    Succeeded, Failed or Error), ``message``, ``shutdown`` ('' or Stop/Terminate), ``stop_reason``."""

    phase: str
    message: str = ""
    shutdown: str = ""
    stop_reason: str = ""


def state_of(workflow: Mapping[str, Any]) -> WorkflowState:
    """The :class:`WorkflowState` of a Workflow object (fields of the wrong type read as empty)."""

    def text(holder: Any, key: str) -> str:
        value = holder.get(key) if isinstance(holder, dict) else None
        return value if isinstance(value, str) else ""

    status, spec, metadata = workflow.get("status"), workflow.get("spec"), workflow.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return WorkflowState(
        text(status, "phase"),
        text(status, "message"),
        text(spec, "shutdown"),
        text(annotations, ANNOTATION_STOP_REASON),
    )


@dataclass(frozen=True)
class WorkflowRun:
    """One submitted Workflow and what it was submitted for."""

    namespace: str
    name: str
    template: str
    stage: str
    repository: str
    issue_number: int
    delivery_id: str
    submitted_at: datetime


SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
OUTCOMES = frozenset({SUCCEEDED, FAILED, CANCELLED})
