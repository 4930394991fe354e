"""Migrations run while the previous release still serves (docs/operations.md: expand → deploy →
contract). A migration after the recorded baseline may add, never take away: its SQL (what
`sqlmigrate` prints, RunSQL included) must not drop, rename or retype what old code reads, nor
demand a value that old code does not write."""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.migrations import Migration
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

CHECKED_APPS = ("accounts", "imaging", "labeling", "exports", "training", "operations")

# The last migration of each app when production deployment began: every deployment has them, so
# the rule applies only to the migrations after them. An app not named here is checked whole.
BASELINE = {
    "accounts": "0002_membership_senior",
    "imaging": "0001_initial",
    "labeling": "0005_answer_prelabel",
    "exports": "0001_initial",
    "training": "0001_models_runs_versions_predictions",
}

# A contract migration (it removes what the previous release still used) says why that is safe by now:
#     contract_step = "nothing has read Answer.note since release 0.4"
# and ships one release after the code that stopped using it.
CONTRACT_ATTRIBUTE = "contract_step"

IDENTIFIER = r'"?([\w$]+)"?'
UNSAFE_STATEMENTS = [
    (re.compile(r"\bDROP\s+TABLE\b", re.IGNORECASE), "drops a table"),
    (re.compile(r"\bDROP\s+COLUMN\b", re.IGNORECASE), "drops a column"),
    (re.compile(r"\bRENAME\s+COLUMN\b", re.IGNORECASE), "renames a column"),
    (re.compile(r"\bALTER\s+TABLE\s+\S+\s+RENAME\s+TO\b", re.IGNORECASE), "renames a table"),
    (re.compile(rf"\bALTER\s+COLUMN\s+{IDENTIFIER}\s+(SET\s+DATA\s+)?TYPE\b", re.IGNORECASE),
     "changes a column's type"),
    (re.compile(rf"\bALTER\s+COLUMN\s+{IDENTIFIER}\s+SET\s+NOT\s+NULL\b", re.IGNORECASE),
     "makes a column NOT NULL"),
]
ADD_COLUMN = re.compile(rf"\bADD\s+COLUMN\s+{IDENTIFIER}(?P<definition>[^,;]*)", re.IGNORECASE)
DROP_DEFAULT = re.compile(rf"\bALTER\s+COLUMN\s+{IDENTIFIER}\s+DROP\s+DEFAULT\b", re.IGNORECASE)


@dataclass(frozen=True)
class Violation:
    migration: str  # app_label.name
    problem: str
    statement: str

    def __str__(self) -> str:
        return f"{self.migration} {self.problem}: {self.statement.strip()}"


def unsafe_statements(statements: list[str]) -> list[tuple[str, str]]:
    """(problem, statement) for each statement of one migration that the previous release cannot live with."""
    found = []
    dropped_defaults = {match.group(1) for statement in statements for match in DROP_DEFAULT.finditer(statement)}
    for statement in statements:
        for pattern, problem in UNSAFE_STATEMENTS:
            if pattern.search(statement):
                found.append((problem, statement))
        for match in ADD_COLUMN.finditer(statement):
            column, definition = match.group(1), match.group("definition").upper()
            # Old code inserts rows without the new column: NOT NULL needs a default kept in the
            # database (db_default), not Django's default, which the migration drops again.
            has_lasting_default = "DEFAULT" in definition and column not in dropped_defaults
            if "NOT NULL" in definition and not has_lasting_default:
                found.append((f"adds the NOT NULL column {column} without a database default", statement))
    return found


def migration_sql(migration: Migration, state: ProjectState) -> list[str]:
    """The SQL `sqlmigrate` would print for `migration`, applied on top of `state`."""
    with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
        migration.apply(state.clone(), editor, collect_sql=True)
    return [statement for statement in editor.collected_sql if not statement.startswith("--")]


def check_migration(migration: Migration, state: ProjectState) -> list[Violation]:
    if getattr(migration, CONTRACT_ATTRIBUTE, ""):
        return []
    name = f"{migration.app_label}.{migration.name}"
    return [Violation(name, problem, statement)
            for problem, statement in unsafe_statements(migration_sql(migration, state))]


def migrations_after_baseline(loader: MigrationLoader) -> list[tuple[str, str]]:
    """(app, name) of every migration of the checked apps newer than the baseline, in the order they apply."""
    baseline = set()
    for app, name in BASELINE.items():
        baseline |= set(loader.graph.forwards_plan((app, name)))
    in_order: dict[tuple[str, str], None] = {}
    for leaf in loader.graph.leaf_nodes():
        in_order.update(dict.fromkeys(loader.graph.forwards_plan(leaf)))
    return [node for node in in_order if node[0] in CHECKED_APPS and node not in baseline]


def check_all() -> list[Violation]:
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    violations = []
    for app, name in migrations_after_baseline(loader):
        state = loader.project_state((app, name), at_end=False)
        violations += check_migration(loader.graph.nodes[(app, name)], state)
    return violations
