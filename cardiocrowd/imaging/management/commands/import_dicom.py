"""python manage.py import_dicom --project SLUG PATH...  |  --dicomweb URL [--study UID...] [--query K=V...]"""
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cardiocrowd.accounts.models import Project
from cardiocrowd.accounts.services import create_project
from cardiocrowd.imaging import services
from cardiocrowd.imaging.models import ImportJob, ImportProblem


class Command(BaseCommand):
    help = "Import DICOM files, folders or zips, or studies from a DICOMweb server, into a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", help="files, folders or zips")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--create", action="store_true", help="create the project if it does not exist")
        parser.add_argument("--dicomweb", metavar="URL", help="DICOMweb root to pull from")
        parser.add_argument("--study", action="append", default=[], metavar="UID", help="study to pull (repeat)")
        parser.add_argument("--query", action="append", default=[], metavar="KEY=VALUE",
                            help="QIDO-RS study filter when no --study is given (repeat)")

    def handle(self, *args, **options) -> None:
        project = self.project(options["project"], options["create"])
        if options["dicomweb"]:
            query = dict(item.split("=", 1) for item in options["query"])
            if not options["study"] and not query:
                raise CommandError("with --dicomweb, give --study UID or --query KEY=VALUE")
            job = services.create_import_job(project=project, kind=ImportJob.Kind.DICOMWEB, user=None, enqueue=False,
                                             parameters={"url": options["dicomweb"], "study_uids": options["study"],
                                                         "query": query})
        elif options["paths"]:
            job = services.create_import_job(project=project, kind=ImportJob.Kind.FOLDER, user=None, enqueue=False,
                                             parameters={"paths": options["paths"]})
        else:
            raise CommandError("give PATH... or --dicomweb URL")
        job = services.run_import_job(job_id=job.pk, on_progress=self.draw_progress)
        self.stderr.write("")
        self.report(job)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(f"import failed: {job.failure_reason}")

    def project(self, slug: str, create: bool) -> Project:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            if not create:
                raise CommandError(f"no project {slug!r} (add --create to make it)")
            project = create_project(slug=slug, name=slug)
        return project

    def draw_progress(self, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else 0
        self.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
        self.stderr.flush()

    def report(self, job: ImportJob) -> None:
        self.stdout.write(f"imported {job.imported} (quarantined {job.quarantined}), "
                          f"skipped as duplicate {job.duplicates}, refused {job.refused}")
        for problem in ImportProblem.objects.filter(chunk__job=job).order_by("chunk__number", "pk"):
            self.stdout.write(f"  refused {problem.reference}: {problem.reason}")
