"""Finished runs of a recipe read straight from a local SQLite store, without importing MLflow.

`pipeline run` asks, before training, whether the recipe was trained already; that answer must come
in well under 3 s, and importing MLflow and opening its SQLAlchemy store takes 2-5 s on 2 busy cores.
The query touches only MLflow's oldest, stable tables (experiments, runs, tags, latest_metrics),
read-only; any other store, or a schema this does not match, returns None and the caller asks
MLflow (`runs.finished_with_hash`).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from pipeline.tracking.run_record import RunRecord
from pipeline.tracking.store import BUSY_TIMEOUT_MS, sqlite_path

_RUNS = """
SELECT r.run_uuid, r.name, r.experiment_id, r.status, r.start_time, r.end_time, r.artifact_uri
FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id
JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'recipe.hash' AND t.value = ?
WHERE e.name = ? AND e.lifecycle_stage = 'active' AND r.lifecycle_stage = 'active' AND r.status = 'FINISHED'
ORDER BY r.start_time DESC LIMIT 100
"""


def finished_with_hash(uri: str, experiment: str, recipe_hash: str) -> list[RunRecord] | None:
    """FINISHED runs of `experiment` tagged `recipe.hash`, newest first, with their tags and final
    metrics; None when `uri` is not a local SQLite store or it cannot be read this way."""
    db = sqlite_path(uri)
    if db is None:
        return None
    try:
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=BUSY_TIMEOUT_MS / 1000)) as con:
            found = []
            for run_id, name, experiment_id, status, start, end, artifacts in con.execute(_RUNS, (recipe_hash, experiment)):
                tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
                metrics = dict(con.execute("SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (run_id,)))
                found.append(RunRecord(run_id, name or "", str(experiment_id), status, start, end, tags, metrics,
                                       experiment=experiment, artifact_uri=artifacts or ""))
            return found
    except sqlite3.Error:  # a schema MLflow changed, a store being created: MLflow answers instead
        return None
