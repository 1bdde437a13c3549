from django.contrib import admin

from timeline.models import Event, Session, SourceFile


class SubagentInline(admin.TabularInline):
    model = Session
    fk_name = "parent"
    fields = ("provider_session_id", "title", "started_at", "event_count")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "provider_session_id",
        "project",
        "device",
        "git_branch",
        "title",
        "started_at",
        "ended_at",
        "event_count",
        "cost_usd",
        "cost_partial",
        "malformed_count",
        "unknown_count",
    )
    list_filter = ("provider", "device", "project")
    search_fields = ("provider_session_id", "title", "cwd", "project")
    raw_id_fields = ("parent",)
    date_hierarchy = "started_at"
    inlines = [SubagentInline]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "session", "ordinal", "kind", "role", "tool_name", "timestamp")
    list_filter = ("kind", "role", "session__provider")
    search_fields = ("tool_name", "uuid", "session__provider_session_id")
    raw_id_fields = ("session", "chunk")
    readonly_fields = ("source_line",)
    list_select_related = ("session",)
    show_full_result_count = False

    @admin.display(description="source line (from the archive)")
    def source_line(self, event):
        line = event.source_line()
        return line.decode("utf-8", "replace") if line else "-"


@admin.register(SourceFile)
class SourceFileAdmin(admin.ModelAdmin):
    list_display = ("id", "device", "path", "provider", "generation", "size", "updated_at")
    list_filter = ("provider", "device")
    search_fields = ("path",)
    raw_id_fields = ("session",)
