from django.core.management.base import BaseCommand

from legacy_django.users.seed import DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, GENERATED_COUNT, seed_demo


class Command(BaseCommand):
    help = "Create the demo staff user and the generated users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=GENERATED_COUNT, help="generated users to ensure")

    def handle(self, *args, count: int, **options):
        created = seed_demo(count)
        self.stdout.write(f"seeded {created} new users ({DEMO_USERNAME} / {DEMO_EMAIL} / {DEMO_PASSWORD})")
