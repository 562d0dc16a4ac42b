"""Image review for staff: thumbnails, filters, lineage, approve / reject through services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from gallery import services, storage
from gallery.models import Character, Image, ReviewStatus


@admin.register(Character)
class CharacterAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "nsfw_enabled", "lora_name", "image_count", "created_at"]
    list_filter = ["nsfw_enabled"]
    search_fields = ["name", "owner__username", "appearance"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["id", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_image_count=Count("images"))

    @admin.display(description="Images", ordering="_image_count")
    def image_count(self, obj: Character) -> int:
        return obj._image_count


GENERATION_INPUTS = [
    "prompt",
    "negative_prompt",
    "seed",
    "width",
    "height",
    "steps",
    "cfg",
    "workflow",
    "prompt_id",
    "backend_url",
]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    change_form_template = "admin/gallery/image/change_form.html"

    class Media:
        css = {"all": ["gallery/admin.css"]}  # no inline styles: the CSP allows none

    list_display = [
        "thumbnail",
        "character",
        "status",
        "review_status",
        "scene",
        "environment",
        "aspect_ratio",
        "quality_mode",
        "nsfw",
        "edit_type",
        "created_at",
    ]
    list_display_links = ["thumbnail", "character"]
    list_filter = [
        "status",
        "review_status",
        "scene",
        "environment",
        "aspect_ratio",
        "quality_mode",
        "nsfw",
        "edit_type",
        ("character", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["prompt", "character__name"]
    list_select_related = ["character"]
    list_per_page = 50
    date_hierarchy = "created_at"
    actions = ["approve", "reject"]
    readonly_fields = [
        "id",
        "preview",
        "character",
        "batch_id",
        "batch_index",
        "batch_size",
        "status",
        "progress",
        "error_message",
        "scene",
        "environment",
        "outfit",
        "aspect_ratio",
        "quality_mode",
        "nsfw",
        *GENERATION_INPUTS,
        "image_key",
        "thumbnail_key",
        "mask_key",
        "source_link",
        "edits_list",
        "edit_type",
        "review_status",
        "reviewed_by",
        "reviewed_at",
        "created_at",
        "started_at",
        "completed_at",
    ]
    fieldsets = [
        (None, {"fields": ["preview", "character", "status", "progress", "error_message"]}),
        ("Review", {"fields": ["review_status", "reviewed_by", "reviewed_at"]}),
        (
            "Metadata",
            {"fields": ["scene", "environment", "outfit", "aspect_ratio", "quality_mode", "nsfw"]},
        ),
        ("Generation inputs", {"fields": GENERATION_INPUTS}),
        ("Lineage", {"fields": ["source_link", "edit_type", "edits_list"]}),
        (
            "Storage and pack",
            {
                "classes": ["collapse"],
                "fields": [
                    "id",
                    "batch_id",
                    "batch_index",
                    "batch_size",
                    "image_key",
                    "thumbnail_key",
                    "mask_key",
                    "created_at",
                    "started_at",
                    "completed_at",
                ],
            },
        ),
    ]

    def has_add_permission(self, request) -> bool:
        # Images come from generation, never from a blank admin form.
        return False

    @admin.display(description="Image")
    def thumbnail(self, obj: Image) -> str:
        if not obj.thumbnail_key:
            return obj.get_status_display()
        return format_html(
            '<img class="review-thumb" src="{}" alt="thumbnail" loading="lazy">',
            storage.file_url(obj.thumbnail_key),
        )

    @admin.display(description="Preview")
    def preview(self, obj: Image) -> str:
        if not obj.image_key:
            return obj.error_message or obj.get_status_display()
        url = storage.file_url(obj.image_key)
        return format_html(
            '<a href="{}"><img class="review-preview" src="{}" alt=""></a>', url, url
        )

    @admin.display(description="Source image")
    def source_link(self, obj: Image) -> str:
        if obj.source_image_id is None:
            return "—" if obj.edit_type is None else "The source was deleted."
        url = reverse("admin:gallery_image_change", args=[obj.source_image_id])
        source = obj.source_image
        if not source.thumbnail_key:
            return format_html('<a href="{}">{}</a>', url, source)
        return format_html(
            '<a href="{}"><img class="review-thumb" src="{}" alt="Source image: {}"></a>',
            url,
            storage.file_url(source.thumbnail_key),
            source,
        )

    @admin.display(description="Edits of this image")
    def edits_list(self, obj: Image) -> str:
        edits = obj.edits.order_by("created_at").only("id", "status")
        if not edits:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({})',
            ((reverse("admin:gallery_image_change", args=[e.id]), e.id, e.status) for e in edits),
        )

    def get_urls(self):
        review = path(
            "<path:object_id>/review/<str:verdict>/",
            self.admin_site.admin_view(self.review_view),
            name="gallery_image_review",
        )
        return [review, *super().get_urls()]

    def review_view(self, request, object_id: str, verdict: str) -> HttpResponse:
        """The change page's Approve and Reject buttons."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        image = get_object_or_404(Image, pk=object_id)
        if not self.has_change_permission(request, image) or verdict not in (
            ReviewStatus.APPROVED,
            ReviewStatus.REJECTED,
        ):
            raise PermissionDenied
        services.image_review(images=[image], status=verdict, reviewer=request.user)
        self.message_user(request, f"{image}: {ReviewStatus(verdict).label.lower()}.")
        return redirect("admin:gallery_image_change", object_id)

    @admin.action(description="Approve selected images")
    def approve(self, request, queryset) -> None:
        count = services.image_approve(images=queryset, reviewer=request.user)
        self.message_user(request, f"Approved {count} image(s).", messages.SUCCESS)

    @admin.action(description="Reject selected images")
    def reject(self, request, queryset) -> None:
        count = services.image_reject(images=queryset, reviewer=request.user)
        self.message_user(request, f"Rejected {count} image(s).", messages.WARNING)
