"""Messages are ordered by a sparse order key instead of a dense position (domain/order_keys.py).

Forward: key = (position + 1) · GAP, and each session's last_order_key is its highest key. Backward:
position = the message's rank by key. GAP is written here as it was when this migration was made.
"""

from django.db import migrations, models

GAP = 1 << 32


def keys_from_positions(apps, schema_editor):  # noqa: ANN001, ANN201
    schema_editor.execute(f"UPDATE sessions_app_message SET order_key = (position + 1) * {GAP}")
    schema_editor.execute(
        "UPDATE sessions_app_session SET last_order_key = COALESCE((SELECT MAX(m.order_key)"
        " FROM sessions_app_message AS m WHERE m.session_id = sessions_app_session.id), 0)"
    )


def positions_from_keys(apps, schema_editor):  # noqa: ANN001, ANN201
    schema_editor.execute(
        "UPDATE sessions_app_message SET position = r.idx FROM (SELECT id, row_number() OVER"
        " (PARTITION BY session_id ORDER BY order_key) - 1 AS idx FROM sessions_app_message) AS r"
        " WHERE sessions_app_message.id = r.id"
    )


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0008_message_search_vector")]

    operations = [
        migrations.AddField(
            model_name="session",
            name="last_order_key",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(model_name="message", name="order_key", field=models.BigIntegerField(null=True)),
        migrations.RemoveConstraint(model_name="message", name="message_unique_position"),
        migrations.AlterField(model_name="message", name="position", field=models.IntegerField(null=True)),
        migrations.RunPython(keys_from_positions, positions_from_keys),
        migrations.AlterField(model_name="message", name="order_key", field=models.BigIntegerField()),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(fields=("session", "order_key"), name="message_unique_order_key"),
        ),
        migrations.RemoveField(model_name="message", name="position"),
        migrations.AlterModelOptions(name="message", options={"ordering": ["session", "order_key"]}),
    ]
