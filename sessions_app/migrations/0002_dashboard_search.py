"""Indexes for the dashboard's session search (PostgreSQL only; SQLite migrates to nothing here).

- Full-text over message content: the expression must be the one SearchVector("content",
  config="english") compiles to, or the planner cannot use it.
- Trigram over session names, for "name contains" (UPPER(name) LIKE UPPER(%q%)). pg_trgm ships
  with PostgreSQL; if the database user may not create extensions, the name search still works,
  by a sequential scan, and the migration says so instead of failing.
"""

from django.db import migrations, transaction

FTS_INDEX = "sessions_app_message_content_fts"
NAME_INDEX = "sessions_app_session_name_trgm"
CREATE_FTS = (
    f"CREATE INDEX IF NOT EXISTS {FTS_INDEX} ON sessions_app_message "
    "USING GIN (to_tsvector('english'::regconfig, COALESCE(content, '')))"
)
CREATE_NAME = (
    f"CREATE INDEX IF NOT EXISTS {NAME_INDEX} ON sessions_app_session "
    "USING GIN ((UPPER(name::text)) gin_trgm_ops)"
)


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FTS)
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema_editor.execute(CREATE_NAME)
    except Exception as exc:  # noqa: BLE001 - any refusal leaves a slower but working name search
        print(f"\n  note: no trigram index on session names ({exc}); name search will scan the table")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME_INDEX}")
        schema_editor.execute(f"DROP INDEX IF EXISTS {FTS_INDEX}")


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
