from django.contrib import admin

from oikos.models import Message, Thread, Turn


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "updated_at", "cost_usd")
    search_fields = ("title",)


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "status", "attempts", "runner", "created_at", "finished_at", "cost_usd")
    list_filter = ("status",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "turn", "role", "streaming", "created_at")
    list_filter = ("role",)
    search_fields = ("text",)
