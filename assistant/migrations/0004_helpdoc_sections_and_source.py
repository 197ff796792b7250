from django.db import migrations, models


def read_sections(apps, schema_editor):
    from assistant.helpdocs import parsing

    HelpDoc = apps.get_model("assistant", "HelpDoc")
    for doc in HelpDoc.objects.all():
        parsed = parsing.read(doc.body, doc.title)
        doc.sections = {"v": parsing.VERSION, "sections": [s.as_json() for s in parsed.sections]}
        doc.save(update_fields=["sections"])


class Migration(migrations.Migration):
    dependencies = [("assistant", "0003_rollups")]

    operations = [
        migrations.AddField(
            model_name="helpdoc",
            name="description",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="helpdoc",
            name="keywords",
            field=models.CharField(
                blank=True,
                help_text="Words readers use for what this doc describes, comma separated (for "
                "example customer, where the doc says client): they count like its title.",
                max_length=500,
            ),
        ),
        migrations.AddField(
            model_name="helpdoc",
            name="source",
            field=models.CharField(blank=True, db_index=True, max_length=500),
        ),
        migrations.AddField(
            model_name="helpdoc",
            name="source_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="helpdoc",
            name="imported_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="helpdoc",
            name="sections",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.CreateModel(
            name="SectionVector",
            fields=[
                ("key", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("vector", models.BinaryField()),
            ],
        ),
        migrations.RunPython(read_sections, migrations.RunPython.noop),
    ]
