from django.core.management.base import BaseCommand

from cardiocrowd.demo_project import DEMO_SLUG, load_demo_project


class Command(BaseCommand):
    help = "Create or refresh the demo project (slug 'demo') with real DICOM and one user per role."

    def handle(self, *args, **options) -> None:
        for username, password, role in load_demo_project():
            self.stdout.write(f"{role:>7}  {username} / {password}")
        self.stdout.write(f"project: {DEMO_SLUG}")
