"""Migrations newer than the baseline must leave the previous release working while they run."""
import pytest
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader

from cardiocrowd.operations.migration_safety import (
    BASELINE,
    CHECKED_APPS,
    check_all,
    check_migration,
    migrations_after_baseline,
    unsafe_statements,
)

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)  # outside a transaction, as migrate runs (CREATE INDEX CONCURRENTLY)
def test_every_migration_after_the_baseline_is_safe_for_the_running_release():
    assert [str(violation) for violation in check_all()] == []


def test_the_baseline_names_migrations_that_exist_and_every_checked_app_is_covered():
    loader = MigrationLoader(connection)

    assert all((app, name) in loader.graph.nodes for app, name in BASELINE.items())
    assert set(BASELINE) <= set(CHECKED_APPS)
    assert ("labeling", "0006_answer_created_at_index") in migrations_after_baseline(loader)
    assert ("labeling", "0005_answer_prelabel") not in migrations_after_baseline(loader)


@pytest.mark.parametrize(("sql", "problems"), [
    (['ALTER TABLE "t" DROP COLUMN "c" CASCADE;'], ["drops a column"]),
    (['DROP TABLE "t" CASCADE;'], ["drops a table"]),
    (['ALTER TABLE "t" RENAME COLUMN "a" TO "b";'], ["renames a column"]),
    (['ALTER TABLE "t" RENAME TO "u";'], ["renames a table"]),
    (['ALTER TABLE "t" ALTER COLUMN "c" TYPE varchar(20) USING "c"::varchar(20);'], ["changes a column's type"]),
    (['ALTER TABLE "t" ALTER COLUMN "c" SET NOT NULL;'], ["makes a column NOT NULL"]),
    (['ALTER TABLE "t" ADD COLUMN "c" integer NOT NULL;'], ["adds the NOT NULL column c without a database default"]),
    (['ALTER TABLE "t" ADD COLUMN "c" integer DEFAULT 0 NOT NULL;', 'ALTER TABLE "t" ALTER COLUMN "c" DROP DEFAULT;'],
     ["adds the NOT NULL column c without a database default"]),
    (['ALTER TABLE "t" ADD COLUMN "c" integer DEFAULT 0 NOT NULL;'], []),  # db_default: old inserts get 0
    (['ALTER TABLE "t" ADD COLUMN "c" integer NULL;'], []),
    (['ALTER TABLE "t" ALTER COLUMN "c" DROP NOT NULL;'], []),
    (['CREATE TABLE "t" ("id" bigint NOT NULL PRIMARY KEY);'], []),
    (['CREATE INDEX CONCURRENTLY "i" ON "t" ("c");'], []),
    (['ALTER INDEX "i" RENAME TO "j";'], []),
])
def test_statements_are_judged_by_what_old_code_can_live_with(sql, problems):
    assert [problem for problem, _ in unsafe_statements(sql)] == problems


def next_labeling_migration(*operations, **attributes) -> tuple[migrations.Migration, object]:
    loader = MigrationLoader(connection)
    [leaf] = [node for node in loader.graph.leaf_nodes() if node[0] == "labeling"]
    migration = type("Migration", (migrations.Migration,), attributes)("9999_next", "labeling")
    migration.operations = list(operations)
    return migration, loader.project_state(leaf, at_end=True)


def test_a_migration_that_drops_or_renames_what_old_code_reads_is_caught():
    migration, state = next_labeling_migration(
        migrations.RemoveField("answer", "note"),
        migrations.RenameField("answer", "skip_reason", "skipped_because"),
        migrations.AddField("answer", "reviewed", models.BooleanField(default=False)),
        migrations.AddField("answer", "score", models.FloatField(null=True)),
        migrations.AddField("answer", "source", models.CharField(max_length=16, db_default="crowd")),
    )

    violations = check_migration(migration, state)

    assert [(violation.migration, violation.problem) for violation in violations] == [
        ("labeling.9999_next", "drops a column"),
        ("labeling.9999_next", "renames a column"),
        ("labeling.9999_next", "adds the NOT NULL column reviewed without a database default"),
    ]


def test_a_contract_migration_says_why_and_passes():
    migration, state = next_labeling_migration(migrations.RemoveField("answer", "note"),
                                               contract_step="nothing has read Answer.note since release 0.4")

    assert check_migration(migration, state) == []


def test_raw_sql_is_read_too():
    migration, state = next_labeling_migration(migrations.RunSQL("ALTER TABLE labeling_answer DROP COLUMN note"))

    assert [violation.problem for violation in check_migration(migration, state)] == ["drops a column"]
