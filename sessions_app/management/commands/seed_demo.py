from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from sessions_app.services.demo import has_demo_data, seed


class Command(BaseCommand):
    help = "Load ~20 realistic demo sessions (one with 10,000 messages). Skipped if demo data exists."

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument("--count", type=int, default=20)
        parser.add_argument("--big", type=int, default=10_000, help="messages in the largest session")
        parser.add_argument("--force", action="store_true", help="add demo sessions even if some exist")

    def handle(self, *args: object, **options: object) -> None:
        if not options["force"] and has_demo_data():
            self.stdout.write("Demo data already present; skipping (use --force to add more).")
            return
        with tqdm(total=options["count"], desc="demo sessions", unit="session") as bar:
            made = seed(count=options["count"], big=options["big"], progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"Created {len(made)} demo sessions."))
