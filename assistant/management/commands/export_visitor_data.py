import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from assistant.querylog.records import visitor_export


class Command(BaseCommand):
    help = (
        "Write a user's questions to the assistant (as the query log keeps them, personal "
        "data already replaced) as JSON: a reader's right of access."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="The user's username, e-mail address or id.")
        parser.add_argument("--output", help="A file to write (default: standard output).")

    def handle(self, *args, user: str, output: str | None, **options) -> None:
        users = get_user_model().objects
        username = get_user_model().USERNAME_FIELD
        found = (
            users.filter(**{username: user}).first()
            or users.filter(email__iexact=user).first()
            or (users.filter(pk=int(user)).first() if user.isdigit() else None)
        )
        if found is None:
            raise CommandError(f"No user {user!r}.")
        data = {"user": getattr(found, username), "questions": visitor_export(user_pk=found.pk)}
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if output:
            with open(output, "w", encoding="utf-8") as out:
                out.write(text + "\n")
            self.stdout.write(f"{len(data['questions'])} questions written to {output}")
        else:
            self.stdout.write(text)
