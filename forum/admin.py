from django.contrib import admin

from forum.models import Board, Claim, Post, Thread


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "description", "created_at")
    search_fields = ("slug", "name")


class PostInline(admin.TabularInline):
    model = Post
    fields = ("author_kind", "author_ref", "text", "created_at")
    extra = 0
    show_change_link = True


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ("id", "board", "title", "author_kind", "author_ref", "job", "post_count", "last_post_at")
    list_filter = ("board", "author_kind")
    search_fields = ("title", "key")
    raw_id_fields = ("job",)
    list_select_related = ("board",)
    inlines = [PostInline]


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "author_kind", "author_ref", "created_at")
    list_filter = ("author_kind", "thread__board")
    search_fields = ("text",)
    raw_id_fields = ("thread",)
    list_select_related = ("thread",)
    show_full_result_count = False


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ("resource", "holder", "note", "created_at", "updated_at")
    search_fields = ("resource", "holder")
