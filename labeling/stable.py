"""Rows that never change once written, read once per process: the hot paths (next task, submit)
skip a query for them. A schema version is immutable (a change is a new version); a stage's kind,
project and schema are fixed when it is created (its other settings are not, and are read fresh)."""
from dataclasses import dataclass
from functools import lru_cache

from .models import LabelSchema, Stage


@lru_cache(maxsize=4096)
def schema_version(schema_id: int) -> LabelSchema:
    """A schema version by id. A version never changes once saved, so a process keeps what it read."""
    return LabelSchema.objects.get(pk=schema_id)


@dataclass(frozen=True)
class StageFacts:
    """What never changes about a stage once created."""

    kind: str
    project_id: int
    schema_id: int | None


@lru_cache(maxsize=4096)
def stage_facts(stage_id: int) -> StageFacts:
    return StageFacts(*Stage.objects.values_list("kind", "project_id", "schema_id").get(pk=stage_id))
