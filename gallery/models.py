"""Characters and their images: the data every other part of RYLA Studio reads and writes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone


class CharacterQuerySet(models.QuerySet["Character"]):
    def visible_to(self, user) -> CharacterQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)

    def with_portrait(self) -> CharacterQuerySet:
        """`portrait_key`: the thumbnail of the character's newest approved image, if any."""
        newest_approved = (
            Image.objects.filter(
                character=models.OuterRef("pk"),
                review_status=ReviewStatus.APPROVED,
                status=ImageStatus.COMPLETED,
            )
            .order_by("-created_at")
            .values("thumbnail_key")[:1]
        )
        return self.annotate(portrait_key=models.Subquery(newest_approved))


class LoraFileQuerySet(models.QuerySet["LoraFile"]):
    def seen_within(self, seconds: float) -> LoraFileQuerySet:
        return self.filter(seen_at__gte=timezone.now() - timedelta(seconds=seconds))


class LoraFile(models.Model):
    """A LoRA file a ComfyUI backend offers (render workers report them)."""

    name = models.CharField(max_length=200, primary_key=True)
    seen_at = models.DateTimeField(default=timezone.now)

    objects = LoraFileQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def report(cls, names: list[str]) -> None:
        """Record that a backend offers `names`, now."""
        now = timezone.now()
        cls.objects.bulk_create(
            [cls(name=name[:200], seen_at=now) for name in names],
            update_conflicts=True,
            unique_fields=["name"],
            update_fields=["seen_at"],
        )


class Character(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="characters"
    )
    name = models.CharField(max_length=100)
    appearance = models.TextField(
        max_length=2000, help_text="Prompt text describing the person: face, hair, body, style."
    )
    nsfw_enabled = models.BooleanField("NSFW enabled", default=False)
    lora_name = models.CharField(
        "LoRA file name", max_length=200, blank=True, help_text="A LoRA file on the ComfyUI server."
    )
    lora_strength = models.FloatField(
        "LoRA strength",
        default=0.8,
        validators=[MinValueValidator(-2.0), MaxValueValidator(2.0)],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CharacterQuerySet.as_manager()

    class Meta:
        ordering = ["name", "created_at"]
        indexes = [models.Index(fields=["owner", "name"], name="character_owner_name")]
        constraints = [
            models.CheckConstraint(
                condition=Q(lora_strength__gte=-2.0) & Q(lora_strength__lte=2.0),
                name="character_lora_strength_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ImageStatus(models.TextChoices):
    # Waiting in the job queue for a render worker with a free backend.
    PENDING = "pending", "Queued"
    # Taken by a render worker: on its backend's queue, or rendering.
    GENERATING = "generating", "Generating"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


IN_FLIGHT_STATUSES = (ImageStatus.PENDING, ImageStatus.GENERATING)


class AspectRatio(models.TextChoices):
    """Stored as written on the wire (`1:1`): a ratio, not an identifier. The one
    vocabulary of aspect ratios: model, API, forms and presets all read it."""

    SQUARE = "1:1", "Square 1:1"
    STORY = "9:16", "Story 9:16"
    PORTRAIT = "2:3", "Portrait 2:3"


class QualityMode(models.TextChoices):
    DRAFT = "draft", "Draft (fast)"
    HQ = "hq", "High quality"


class EditType(models.TextChoices):
    INPAINT = "inpaint", "Inpaint"


class ReviewStatus(models.TextChoices):
    UNREVIEWED = "unreviewed", "Unreviewed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ImageQuerySet(models.QuerySet["Image"]):
    def visible_to(self, user) -> ImageQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(character__owner=user)

    def in_flight(self) -> ImageQuerySet:
        return self.filter(status__in=IN_FLIGHT_STATUSES)

    def queued(self) -> ImageQuerySet:
        """Waiting in the job queue (no worker has it)."""
        return self.filter(status=ImageStatus.PENDING)

    def ahead_of(self, image: Image) -> ImageQuerySet:
        """Queued images a worker takes before `image`: more urgent, or as urgent and
        enqueued earlier (the broker's order)."""
        enqueued_at = image.enqueued_at or image.created_at
        return self.queued().filter(
            Q(queue_urgency__gt=image.queue_urgency)
            | Q(queue_urgency=image.queue_urgency, enqueued_at__lt=enqueued_at)
        )

    def completed(self) -> ImageQuerySet:
        return self.filter(status=ImageStatus.COMPLETED)

    def for_character(self, character: Character) -> ImageQuerySet:
        return self.filter(character=character)

    def newest_first(self) -> ImageQuerySet:
        return self.order_by("-created_at", "-id")

    def in_batch(self, batch_id: uuid.UUID) -> ImageQuerySet:
        return self.filter(batch_id=batch_id)

    def edited(self, edited: bool) -> ImageQuerySet:
        return self.filter(source_image__isnull=not edited, edit_type__isnull=not edited)

    def older_than(self, created_at, image_id: uuid.UUID) -> ImageQuerySet:
        """Rows after (created_at, id) in newest-first order: keyset pagination, any depth."""
        # The redundant `created_at <= …` lets the (character, created_at) index bound the scan.
        return self.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=image_id),
            created_at__lte=created_at,
        )


class Image(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="images")
    batch_id = models.UUIDField(db_index=True, help_text="The pack that one request made.")
    batch_index = models.PositiveSmallIntegerField(default=0, help_text="Position in its pack.")
    batch_size = models.PositiveSmallIntegerField(default=1, help_text="Images in its pack.")

    status = models.CharField(
        max_length=16, choices=ImageStatus.choices, default=ImageStatus.PENDING
    )
    progress = models.PositiveSmallIntegerField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    error_message = models.TextField(blank=True)

    scene = models.CharField(max_length=64)
    environment = models.CharField(max_length=64)
    outfit = models.CharField(max_length=200, blank=True)
    aspect_ratio = models.CharField(max_length=8, choices=AspectRatio.choices)
    quality_mode = models.CharField(max_length=8, choices=QualityMode.choices)
    nsfw = models.BooleanField("NSFW", default=False)

    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    details = models.TextField(
        blank=True, help_text="The creator's own words, added to the prompt of a generation."
    )
    seed = models.BigIntegerField(validators=[MinValueValidator(0)])
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    steps = models.PositiveSmallIntegerField()
    cfg = models.FloatField()
    workflow = models.CharField(max_length=64)

    prompt_id = models.CharField("ComfyUI prompt id", max_length=64, unique=True)
    backend_url = models.CharField("ComfyUI backend", max_length=300, blank=True)

    # Dispatch: the job's place in the queue, and the render worker that holds it.
    queue_urgency = models.PositiveSmallIntegerField(
        default=0, help_text="0-9, higher first: drafts before HQ, a user's first jobs first."
    )
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Times a render worker took it (each on a backend)."
    )
    claimed_by = models.CharField(max_length=300, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the worker that holds it."
    )

    image_key = models.CharField(max_length=300, blank=True)
    thumbnail_key = models.CharField(max_length=300, blank=True)
    mask_key = models.CharField(max_length=300, blank=True)

    # Inpaint settings (edits only; the defaults are the plain full-image repaint).
    denoise = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="How much of the masked area is repainted: 1 = all of it.",
    )
    mask_feather = models.PositiveSmallIntegerField(
        default=0, help_text="Pixels over which the mask edge fades into the original."
    )
    only_masked = models.BooleanField(
        default=False,
        help_text="Render only a crop around the mask at the model's resolution.",
    )
    mask_padding = models.PositiveSmallIntegerField(
        default=32, help_text="Pixels of context kept around the mask when only it is rendered."
    )

    source_image = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="edits",
        help_text="The image this one was edited from.",
    )
    # DESIGN.md: `inpaint` or null — null says "not an edit", distinct from any edit kind.
    edit_type = models.CharField(  # noqa: DJ001
        max_length=16, choices=EditType.choices, null=True, blank=True
    )

    favourite = models.BooleanField(default=False, help_text="The creator starred it.")
    review_status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.UNREVIEWED
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["character", "-created_at", "-id"], name="image_character_newest"),
            models.Index(
                fields=["status", "created_at"],
                name="image_in_flight",
                condition=Q(status__in=["pending", "generating"]),
            ),
            models.Index(
                fields=["queue_urgency", "enqueued_at"],
                name="image_queued",
                condition=Q(status="pending"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=100), name="image_progress_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ImageStatus.values), name="image_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(aspect_ratio__in=AspectRatio.values), name="image_aspect_ratio_valid"
            ),
            models.CheckConstraint(
                condition=Q(quality_mode__in=QualityMode.values), name="image_quality_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(review_status__in=ReviewStatus.values),
                name="image_review_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(edit_type__isnull=True) | Q(edit_type__in=EditType.values),
                name="image_edit_type_valid",
            ),
            models.CheckConstraint(condition=Q(seed__gte=0), name="image_seed_non_negative"),
        ]

    def __str__(self) -> str:
        return f"Image {str(self.id)[:8]} · {self.scene} · {self.status}"

    @property
    def is_in_flight(self) -> bool:
        return self.status in IN_FLIGHT_STATUSES

    @property
    def is_edit(self) -> bool:
        return self.edit_type is not None

    def _update_while_in_flight(self, **changes) -> bool:
        """UPDATE this row only while it is still in flight; answers whether it was.

        Not `save()`: this object may be stale, and another reconciler may have finished the
        row since it was read; writing the old status back would put a finished image in
        flight again (and store its output twice) or hide a completed one. A stale copy is
        refreshed instead.
        """
        if Image.objects.filter(pk=self.pk, status__in=IN_FLIGHT_STATUSES).update(**changes):
            self.updated_at = changes.get("updated_at", self.updated_at)
            return True
        self.refresh_from_db()
        return False

    def claim(self, *, worker: str, backend_url: str, stale_before) -> bool:
        """Take the job for `worker`, unless another live worker holds it or it finished.

        A redelivered or re-enqueued job may reach several workers: only one gets the row,
        so a prompt is queued and an output stored by one worker at a time.
        """
        now = timezone.now()
        claimed = (
            Image.objects.filter(pk=self.pk, status__in=IN_FLIGHT_STATUSES)
            .filter(Q(claimed_by="") | Q(claimed_by=worker) | Q(heartbeat_at__lt=stale_before))
            .update(
                status=ImageStatus.GENERATING,
                claimed_by=worker,
                heartbeat_at=now,
                backend_url=backend_url,
                attempts=models.F("attempts") + 1,
                started_at=Coalesce("started_at", Value(now, output_field=models.DateTimeField())),
                updated_at=now,
            )
        )
        self.refresh_from_db()
        return bool(claimed)

    def _update_while_held(self, worker: str, *, visible: bool = True, **changes) -> bool:
        """UPDATE while `worker` holds the row; `visible` changes (what a card shows) move
        `updated_at`, which is what open studio pages follow."""
        if visible:
            changes["updated_at"] = timezone.now()
        updated = Image.objects.filter(
            pk=self.pk, status=ImageStatus.GENERATING, claimed_by=worker
        ).update(**changes)
        if updated and visible:
            self.updated_at = changes["updated_at"]
        return bool(updated)

    def heartbeat(self, *, worker: str) -> bool:
        """`worker` still renders it; answers False once it was cancelled or taken back."""
        return self._update_while_held(worker, visible=False, heartbeat_at=timezone.now())

    def mark_progress(self, *, worker: str, percent: int) -> bool:
        self.progress = max(0, min(99, int(percent)))
        return self._update_while_held(worker, progress=self.progress, heartbeat_at=timezone.now())

    def release(self, *, worker: str) -> bool:
        """Give the job back to the queue (its backend failed); it keeps its urgency."""
        return self._update_while_held(
            worker, status=ImageStatus.PENDING, claimed_by="", progress=0
        )

    def mark_completed(
        self, *, image_key: str, thumbnail_key: str, width: int, height: int
    ) -> None:
        now = timezone.now()
        self.status = ImageStatus.COMPLETED
        self.progress = 100
        self.error_message = ""
        self.image_key = image_key
        self.thumbnail_key = thumbnail_key
        self.width = width
        self.height = height
        self.started_at = self.started_at or now
        self.completed_at = now
        self.save(
            update_fields=[
                "status",
                "progress",
                "error_message",
                "image_key",
                "thumbnail_key",
                "width",
                "height",
                "started_at",
                "completed_at",
                "updated_at",
            ]
        )

    def mark_failed(self, message: str) -> None:
        """Fail the image unless it has finished meanwhile."""
        now = timezone.now()
        message = message[:2000]
        if self._update_while_in_flight(
            status=ImageStatus.FAILED, error_message=message, completed_at=now, updated_at=now
        ):
            self.status, self.error_message, self.completed_at = ImageStatus.FAILED, message, now

    def mark_reviewed(self, *, status: str, reviewer) -> None:
        self.review_status = status
        self.reviewed_by = reviewer
        self.reviewed_at = timezone.now()
        self.save(update_fields=["review_status", "reviewed_by", "reviewed_at", "updated_at"])
