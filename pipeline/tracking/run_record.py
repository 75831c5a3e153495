"""A run as the pipeline reads it back: plain values, never MLflow's types (`runs`, `sqlite_read`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunRecord:
    run_id: str
    name: str
    experiment_id: str
    status: str  # MLflow's: RUNNING, FINISHED, FAILED, KILLED, SCHEDULED
    start_ms: int | None
    end_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    experiment: str = ""
    artifact_uri: str = ""

    @property
    def parent_run_id(self) -> str | None:
        return self.tags.get("mlflow.parentRunId")
