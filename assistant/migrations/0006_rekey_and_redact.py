"""Rows written before visitor ids were keyed and questions redacted: each visitor id is
re-keyed with a random key thrown away once the migration ends (the ids can't be reversed;
distinct visitors still count), and the personal data the detectors can still find in the
normalised questions (phone, card and other long numbers) is replaced. E-mail addresses typed
before can't be told from words once normalised: HELP_LOG_RETENTION_DAYS removes those rows."""

import hashlib
import hmac
import secrets

from django.db import migrations, models


def rekey_and_redact(apps, schema_editor):
    from assistant import detectors

    QueryLog = apps.get_model("assistant", "QueryLog")
    QuestionRollup = apps.get_model("assistant", "QuestionRollup")
    key = secrets.token_bytes(32)
    for old in QueryLog.objects.exclude(visitor="").values_list("visitor", flat=True).distinct():
        new = hmac.new(key, old.encode(), hashlib.sha256).hexdigest()[:32]
        QueryLog.objects.filter(visitor=old).update(visitor=new)
    for model, fields in ((QueryLog, ("question", "resolved")), (QuestionRollup, ("question",))):
        for name in fields:
            for value in model.objects.values_list(name, flat=True).distinct():
                redacted = detectors.redact(value or "")
                if redacted != (value or ""):
                    model.objects.filter(**{name: value}).update(**{name: redacted})


class Migration(migrations.Migration):
    dependencies = [("assistant", "0005_follow_ups")]

    operations = [
        migrations.AlterField(
            model_name="querylog",
            name="visitor",
            field=models.CharField(
                blank=True,
                help_text="A keyed hash of the user, or of the IP with a key of the day.",
                max_length=64,
            ),
        ),
        migrations.RunPython(rekey_and_redact, migrations.RunPython.noop),
    ]
