"""Full-text search over message content for the dashboard's session list (PostgreSQL only).

The index expression must be the one SearchVector("content", config="english") compiles to,
or the planner cannot use it. SQLite has no GIN: the list falls back to a plain match there,
and this migration does nothing on it.
"""

from django.db import migrations

INDEX = "sessions_app_message_content_fts"
CREATE = (
    f"CREATE INDEX IF NOT EXISTS {INDEX} ON sessions_app_message "
    "USING GIN (to_tsvector('english'::regconfig, COALESCE(content, '')))"
)
DROP = f"DROP INDEX IF EXISTS {INDEX}"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
