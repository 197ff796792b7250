from django.db import migrations, models


class Migration(migrations.Migration):
    """A doc's language may be left empty: it is then detected from its text."""

    dependencies = [("assistant", "0006_rekey_and_redact")]

    operations = [
        migrations.AlterField(
            model_name="helpdoc",
            name="language",
            field=models.CharField(
                blank=True,
                db_index=True,
                default="",
                help_text="en, fr… Leave it empty to detect it from the doc's text.",
                max_length=10,
            ),
        ),
    ]
