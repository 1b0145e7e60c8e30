"""PostgreSQL: each message keeps its search vector in a column, and the full-text index is on that column.

``search`` is ``to_tsvector('english', content)``, computed by PostgreSQL whenever content is written
(GENERATED ALWAYS … STORED: no writer sets it, the service's INSERTs name their columns and are unchanged).
The session list can then test "does this session have a matching message" row by row without
re-parsing content: walking the most recently updated sessions until a page is full costs a few
milliseconds for a common word, where collecting every matching message first cost ~100 ms at 100,000
sessions (docs/benchmarks.md, "Dashboard pages"). Rare words still go through the GIN index: the planner
chooses, from the column's statistics. The price is the stored vectors (about the size of the content
again) and a table rewrite when this migration runs. The model does not declare the column (SQLite has
none), so Django never reads it unless asked (sessions_app/search.py).

A later change of the content column's type must drop and re-add this column. SQLite: nothing to do.
"""

from django.db import migrations

ADD_COLUMN = (
    "ALTER TABLE sessions_app_message ADD COLUMN IF NOT EXISTS search tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, COALESCE(content, ''))) STORED"
)
CREATE_INDEX = (
    "CREATE INDEX IF NOT EXISTS sessions_app_message_search ON sessions_app_message USING GIN (search)"
)
OLD_INDEX = "sessions_app_message_content_fts"  # migration 0002: the same vector, recomputed per use
CREATE_OLD_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {OLD_INDEX} ON sessions_app_message "
    "USING GIN (to_tsvector('english'::regconfig, COALESCE(content, '')))"
)


def forwards(apps, schema_editor):  # noqa: ANN001, ANN201
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(ADD_COLUMN)
    schema_editor.execute(CREATE_INDEX)
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    # The planner chooses between walking sessions and the GIN index from the column's statistics.
    schema_editor.execute("ANALYZE sessions_app_message")


def backwards(apps, schema_editor):  # noqa: ANN001, ANN201
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_OLD_INDEX)
    schema_editor.execute("DROP INDEX IF EXISTS sessions_app_message_search")
    schema_editor.execute("ALTER TABLE sessions_app_message DROP COLUMN IF EXISTS search")


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0007_session_foreign_keys_checked_per_statement")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
