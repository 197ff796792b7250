from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("assistant", "0004_helpdoc_sections_and_source")]

    operations = [
        migrations.AlterField(
            model_name="querylog",
            name="question",
            field=models.CharField(db_index=True, help_text="As typed, normalised.", max_length=500),
        ),
        migrations.AddField(
            model_name="querylog",
            name="resolved",
            field=models.CharField(
                blank=True,
                help_text="The standalone question answered (a follow-up's).",
                max_length=500,
            ),
        ),
        migrations.AddField(
            model_name="querylog",
            name="follow_up",
            field=models.BooleanField(default=False, help_text="Resolved with an earlier turn."),
        ),
        migrations.AddField(
            model_name="querylog",
            name="sections",
            field=models.JSONField(blank=True, default=list, help_text="The sources cited."),
        ),
        migrations.AddField(
            model_name="queryrollup",
            name="follow_ups",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
