"""PostgreSQL: the foreign keys to the session row are checked at the end of each statement.

Django creates every foreign key DEFERRABLE INITIALLY DEFERRED on PostgreSQL, so each message and event
row queues a check that runs at COMMIT. Checked per statement (NOT DEFERRABLE) it is the same check
without the deferred-trigger queue: the one-statement append measured ~8 % faster in alternating runs
(docs/benchmarks.md, "Session operations"). Nothing here relies on deferral: a session row is always
written before its messages and events, and Django's deletion collector deletes them before it.

An AlterField on one of these foreign keys would recreate its constraint deferrable again; repeat this
operation after such a migration. SQLite: nothing to do (its foreign keys are checked at COMMIT).
"""

from django.db import migrations

REFERENCING = ("sessions_app_message", "sessions_app_sessionevent", "sessions_app_sessionsnapshot")


def _foreign_keys_to_session(schema_editor):  # noqa: ANN001, ANN202
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table in REFERENCING:
            for name, info in connection.introspection.get_constraints(cursor, table).items():
                if info["foreign_key"] == ("sessions_app_session", "id"):
                    yield table, name


def _set(mode: str):  # noqa: ANN202
    def run(apps, schema_editor):  # noqa: ANN001, ANN202
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        for table, name in list(_foreign_keys_to_session(schema_editor)):
            schema_editor.execute(f"ALTER TABLE {quote(table)} ALTER CONSTRAINT {quote(name)} {mode}")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0006_event_session_index_covered_by_unique_version"),
    ]

    operations = [
        migrations.RunPython(_set("NOT DEFERRABLE"), _set("DEFERRABLE INITIALLY DEFERRED")),
    ]
