"""The labeling engine's data: items, a project's pipeline of stages, the tasks and leases that
serve them, answers, gold, worker quality, consensus, routing and the audit trail.

Which images a crowd worker may see follows from the assignments it holds.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cardiocrowd.accounts.models import Project
from cardiocrowd.imaging.models import Instance, Series, Study


class Item(models.Model):
    """One unit of labeling work: a study, a series, or one instance (optionally a frame range)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.CASCADE, related_name="items")
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE, related_name="items")
    first_frame = models.IntegerField(null=True, blank=True)
    last_frame = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    # The pipeline's final word on the item: set when a stage's routing accepts it.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    result = models.JSONField(null=True, blank=True)  # {field key: value}
    result_task = models.ForeignKey("Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)


class PipelineSettings(models.Model):
    """A project's instructions to workers and its worker-quality rules."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="pipeline_settings")
    instructions = models.TextField(blank=True, help_text="Markdown; example images are uploaded separately.")
    qualification_pass_mark = models.FloatField(default=0.8)  # share of qualification items answered right
    reliability_threshold = models.FloatField(default=0.6)  # below it (with enough gold seen) a worker is blocked
    min_gold_for_blocking = models.PositiveIntegerField(default=5)  # evidence needed before blocking


class InstructionImage(models.Model):
    """An example image in the project's instructions (PNG or JPEG an admin uploaded)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="instruction_images")
    caption = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=32)
    data = models.BinaryField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)


class Stage(models.Model):
    """One step of a project's pipeline: who answers, what, how many independent answers each
    item gets, how much gold is mixed in, how long a lease lasts and where items go next.

    A label stage asks for answers in its schema. A review stage shows experts what the stage
    that sent an item there concluded (every answer, the consensus) and takes a verdict:
    accept, correct or reject; an adjudication stage does the same for senior experts, to
    settle reviews that disagree. Review and adjudication stages use the schema of what they
    review, so they have none of their own."""

    class Audience(models.TextChoices):
        CROWD = "crowd"
        EXPERT = "expert"

    class Kind(models.TextChoices):
        LABEL = "label"
        REVIEW = "review"
        ADJUDICATION = "adjudication"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LABEL)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.CROWD)
    schema = models.ForeignKey("LabelSchema", null=True, blank=True, on_delete=models.PROTECT, related_name="stages")
    redundancy = models.PositiveIntegerField(default=3)  # independent answers per item (minimum k)
    # Adaptive redundancy: after k answers, one more is asked for while the consensus confidence
    # stays below `confidence_target`, up to `max_redundancy` answers.
    max_redundancy = models.PositiveIntegerField(default=3)
    confidence_target = models.FloatField(default=0.0)
    # Share of a worker's tasks that are gold: `gold_rate_max` for new or doubtful workers,
    # falling towards `gold_rate_min` as a worker proves reliable.
    gold_rate_min = models.FloatField(default=0.0)
    gold_rate_max = models.FloatField(default=0.0)
    requires_qualification = models.BooleanField(default=False)  # pass the stage's qualification set first
    show_prelabels = models.BooleanField(default=False)  # model pre-labels shown to workers (training app)
    lease_seconds = models.PositiveIntegerField(default=600)
    routing = models.JSONField(default=list, blank=True)  # rules, see labeling/routing.py

    class ConsensusMethod(models.TextChoices):
        AUTO = "auto"
        DS = "ds"
        ONECOIN = "onecoin"
        GLAD = "glad"
        MACE = "mace"
        MV = "mv"

    # How whole-stage runs aggregate its categorical and multiple-choice fields (labeling/consensus/).
    # A database default, so rows the previous release inserts get one too.
    consensus_method = models.CharField(max_length=16, choices=ConsensusMethod.choices,
                                        default=ConsensusMethod.AUTO, db_default=ConsensusMethod.AUTO)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "position"], name="unique_stage_position")]


class Task(models.Model):
    """An item in a stage. `open_slots` counts the answers still to hand out (the target less
    leased and answered ones), so next-task reads one partial index.

    A gold or qualification task carries a known answer (GoldAnswer): every worker of the stage
    may answer it once, its answers score the worker and never count towards a consensus."""

    class State(models.TextChoices):
        OPEN = "open"
        COMPLETE = "complete"

    class Kind(models.TextChoices):
        NORMAL = "normal"
        GOLD = "gold"
        QUALIFICATION = "qualification"

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="tasks")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NORMAL)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    priority = models.FloatField(default=0.0)  # higher first; active learning writes it, FIFO until then
    open_slots = models.PositiveIntegerField()
    target_answers = models.PositiveIntegerField(default=1)  # k, raised by adaptive redundancy
    answer_count = models.PositiveIntegerField(default=0)  # answers in the current round
    round = models.PositiveIntegerField(default=1)  # a send-back starts a new round with fresh workers
    source_task = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage", "item"], name="one_task_per_item_and_stage")]
        indexes = [models.Index(fields=["stage", "-priority", "id"], name="task_to_serve",
                                condition=Q(state="open", open_slots__gt=0, kind="normal")),
                   models.Index(fields=["stage", "kind", "id"], name="gold_to_serve", condition=~Q(kind="normal"))]


class AssignmentQuerySet(models.QuerySet):
    def held_by(self, worker) -> "AssignmentQuerySet":
        """Open assignments whose lease has not run out."""
        return self.filter(worker=worker, state=Assignment.State.OPEN).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__gt=timezone.now())
        )


class Assignment(models.Model):
    """A task leased to one worker, at most once per round of the task. A crowd worker never gets
    an item twice in a stage, even in a later round (fresh eyes after a send-back); an expert
    may review an item again when it comes back in a new round."""

    class State(models.TextChoices):
        OPEN = "open"
        SUBMITTED = "submitted"
        EXPIRED = "expired"
        RELEASED = "released"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")  # = task.item
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    round = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    leased_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "worker", "round"],
                                               name="one_assignment_per_worker_and_task_round")]
        indexes = [models.Index(fields=["worker", "state"]),
                   models.Index(fields=["lease_expires_at"], name="open_lease_expiry", condition=Q(state="open"))]


class Answer(models.Model):
    """A worker's answer (or reasoned skip), validated against the schema version it was given.

    In a review or adjudication stage it is a verdict on what the reviewed stage concluded:
    `value` then holds the label the reviewer stands behind (the consensus accepted, or the
    correction), in the reviewed schema."""

    class Verdict(models.TextChoices):
        NONE = ""
        ACCEPT = "accept"
        CORRECT = "correct"
        REJECT = "reject"

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="answer")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="answers")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answers")
    schema = models.ForeignKey("LabelSchema", on_delete=models.PROTECT, related_name="answers")
    round = models.PositiveIntegerField(default=1)
    value = models.JSONField(default=dict)
    skip_reason = models.CharField(max_length=200, blank=True)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True, default=Verdict.NONE)
    note = models.TextField(blank=True)
    gold_score = models.JSONField(null=True, blank=True)  # on gold tasks: the per-field comparison
    # The model's pre-label the worker started from ({field: value}), null when they started blank:
    # agreement figures tell anchored answers apart.
    prelabel = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # /metrics counts the answers of the last minute at every scrape: a range on this index.
        indexes = [models.Index(fields=["created_at"], name="answer_created_at")]


class GoldAnswer(models.Model):
    """The known answer of a gold or qualification task, with the explanation workers are shown."""

    class Source(models.TextChoices):
        ADMIN = "admin"
        REVIEW = "review"  # an expert's correction

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="gold")
    schema = models.ForeignKey("LabelSchema", on_delete=models.PROTECT, related_name="+")
    value = models.JSONField()
    explanation = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ADMIN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class WorkerQuality(models.Model):
    """What a stage knows about one worker: qualification, gold record, reliability, block."""

    class Qualification(models.TextChoices):
        NOT_STARTED = "not_started"
        IN_PROGRESS = "in_progress"
        PASSED = "passed"
        FAILED = "failed"

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="worker_quality")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    qualification = models.CharField(max_length=16, choices=Qualification.choices,
                                     default=Qualification.NOT_STARTED)
    qualification_answered = models.PositiveIntegerField(default=0)
    qualification_correct = models.PositiveIntegerField(default=0)
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.FloatField(default=0.0)  # sum of per-answer scores (0..1 each)
    reliability = models.FloatField(default=0.5)  # posterior mean of the gold record, Beta(1, 1) prior
    blocked_reason = models.CharField(max_length=300, blank=True)  # non-empty: no more tasks here
    blocked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage", "worker"], name="one_quality_per_worker_and_stage")]


class LabelSchema(models.Model):
    """One version of a named label schema. A change is a new version; old versions stay, so an
    answer always names the exact schema it was given against (who and when are recorded here)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="label_schemas")
    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name", "version"], name="unique_schema_version")]


class Consensus(models.Model):
    """The current consensus of a task's answers: per field value and share, and a confidence.
    Rewritten whole on every aggregation (idempotent), so a retried aggregation changes nothing."""

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="consensus")
    method = models.CharField(max_length=32)
    fields = models.JSONField(default=dict)  # {key: {"value", "share", "votes"}}
    confidence = models.FloatField()
    answer_count = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)


class RoutingDecision(models.Model):
    """Where an item went when its task in a stage completed (one per round), and which rule
    sent it there."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="routing_decisions")
    round = models.PositiveIntegerField(default=1)
    class Reason(models.TextChoices):
        RULE = ""  # the stage's rules (or none matching) decided
        TIE = "tie"  # no consensus to accept: sent to experts instead
        EMPTY = "empty"
        CONTRADICTS_VOTE = "contradicts_vote"  # the learned label overrides unanimous answers
        CONSENSUS_CHANGED = "consensus_changed"  # a whole-stage run would change an accepted result

    action = models.CharField(max_length=16)  # accept | reject | send | send_back | hold
    target = models.ForeignKey(Stage, null=True, on_delete=models.SET_NULL, related_name="+")
    rule = models.IntegerField(null=True)  # index in the stage's rules; None: no rule matched
    # Why the engine overrode the rules; a consensus change is a second decision on the same round.
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True, default=Reason.RULE,
                              db_default=Reason.RULE)
    decided_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "round", "reason"],
                                               name="one_decision_per_task_round_reason")]


class AuditEvent(models.Model):
    """Append-only record of who did what, when, under which schema version: answers, reviews,
    routing decisions, schema and pipeline changes, gold, qualification and blocking."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=40)  # e.g. answer.submitted, routing.decided, schema.saved
    stage = models.ForeignKey(Stage, null=True, on_delete=models.SET_NULL, related_name="+")
    item = models.ForeignKey(Item, null=True, on_delete=models.SET_NULL, related_name="+")
    task = models.ForeignKey(Task, null=True, on_delete=models.SET_NULL, related_name="+")
    schema = models.ForeignKey(LabelSchema, null=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.JSONField(default=dict)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["project", "-at"]), models.Index(fields=["item", "at"])]


class ConsensusRun(models.Model):
    """One whole-stage re-estimation of worker reliability and consensus from every answer, the
    overlap between workers and the gold: when, by which method, on how much, what it changed."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="consensus_runs")
    method = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    answers = models.PositiveIntegerField(default=0)
    workers = models.PositiveIntegerField(default=0)
    tasks = models.PositiveIntegerField(default=0)
    revised = models.PositiveIntegerField(default=0)  # consensus values that changed
    class_priors = models.JSONField(default=dict)  # {field: {label: probability}}
    # {field: P(consensus right | features) fitted to experts' verdicts}, labeling/consensus/calibration.py
    calibration = models.JSONField(default=dict)
    # {field: {"requested": stage method, "method": the one used, and for auto its "basis", "reason",
    # "scores"}}: why each field's consensus is what it is.
    selection = models.JSONField(default=dict, db_default={})
    error = models.TextField(blank=True)


class ResultProposal(models.Model):
    """A change a whole-stage run would make to a result the pipeline already accepted from a label
    stage. Accepted results never flip silently: the item goes to expert review (or, with no review
    stage, stays as it is and the proposal waits on the dashboard)."""

    class State(models.TextChoices):
        IN_REVIEW = "in_review"
        UNROUTED = "unrouted"  # no review stage to send it to: an admin decides
        RESOLVED = "resolved"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="result_proposals")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+")  # the label task accepted
    run = models.ForeignKey(ConsensusRun, null=True, on_delete=models.SET_NULL, related_name="proposals")
    previous = models.JSONField()  # {field: value} as accepted
    proposed = models.JSONField()  # {field: value} the run concluded
    previous_consensus = models.JSONField(default=dict)  # the consensus fields before the run
    review_task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["item", "state"])]


class WorkerEstimate(models.Model):
    """What the last consensus run learned of a worker in one field of a stage: for a category,
    its confusion matrix and the probability it is right; for a measurement, its bias and noise."""

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="worker_estimates")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=64)
    method = models.CharField(max_length=32)
    reliability = models.FloatField(null=True)  # categories only
    # {"labels": [...], "matrix": [[P(answer j | truth i)]]} or {"bias": b, "noise": sd}
    learned = models.JSONField()
    answers = models.PositiveIntegerField()
    run = models.ForeignKey(ConsensusRun, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage", "worker", "field"], name="one_estimate_per_field")]
