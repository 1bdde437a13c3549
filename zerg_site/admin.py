from django.contrib import admin

from zerg_site.models import ApiToken, Event, LoginFailure, LoginLink, ProcessHeartbeat


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "topic", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("topic", "kind")
    readonly_fields = ("id", "topic", "kind", "payload", "created_at")


@admin.register(ProcessHeartbeat)
class ProcessHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("kind", "name", "host", "pid", "started_at", "last_seen", "stopped_at")
    list_filter = ("kind",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("kind",)
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False  # the secret is shown only at creation: use `zerg token create` or Settings


@admin.register(LoginLink)
class LoginLinkAdmin(admin.ModelAdmin):
    list_display = ("created_at", "expires_at", "used_at")
    readonly_fields = ("created_at", "expires_at", "used_at")

    def has_add_permission(self, request):
        return False


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    list_display = ("address", "created_at")
