from django.contrib import admin, messages

from commis import jobs
from commis.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "backend", "status", "short_task", "attempts", "worker", "created_at", "finished_at")
    list_filter = ("status", "backend", "origin")
    search_fields = ("task", "summary", "repo_url")
    readonly_fields = (
        "lease",
        "worker",
        "host",
        "pid",
        "heartbeat_at",
        "attempts",
        "started_at",
        "finished_at",
        "exit_code",
        "usage",
        "cost_usd",
        "session_id",
        "workspace",
        "artifacts_dir",
        "base_commit",
    )
    actions = ["cancel_jobs", "retry_jobs"]

    @admin.display(description="task")
    def short_task(self, job):
        return job.task[:80]

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset):
        for job in queryset.filter(status__in=Job.ACTIVE):
            jobs.cancel(job.id)
        messages.info(request, "cancel requested")

    @admin.action(description="Retry the selected finished jobs")
    def retry_jobs(self, request, queryset):
        for job in queryset.filter(status__in=Job.FINISHED):
            jobs.retry(job.id)
        messages.info(request, "re-queued")


# --- Sauron schedules

from django import forms  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402

from commis import schedules  # noqa: E402
from commis.models import Schedule, ScheduleMiss, ScheduleRun  # noqa: E402


class ScheduleForm(forms.ModelForm):
    """Checks cron, time zone and interval with the same rules (and messages) as the CLI and API."""

    class Meta:
        model = Schedule
        fields = ["name", "cron", "tz", "interval", "task", "backend", "repo_url", "timeout", "missed", "enabled"]

    def clean(self):
        data = super().clean()
        try:
            schedules._validate({**data, "interval": data.get("interval")})
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return data


class ScheduleRunInline(admin.TabularInline):
    model = ScheduleRun
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "trigger", "due_at", "job", "error")
    ordering = ("-id",)

    def has_add_permission(self, request, obj=None):
        return False


class ScheduleMissInline(admin.TabularInline):
    model = ScheduleMiss
    extra = 0
    can_delete = False
    fields = readonly_fields = ("noticed_at", "count", "first_at", "last_at", "policy", "reason", "run")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ("name", "cron", "tz", "interval", "backend", "enabled", "next_run_at", "missed")
    list_filter = ("enabled", "backend", "missed")
    search_fields = ("name", "task")
    readonly_fields = ("next_run_at", "created_at", "updated_at")
    inlines = [ScheduleRunInline, ScheduleMissInline]
    actions = ["run_now", "enable", "disable"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("name",) if obj else ())

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data.get(f) for f in schedules.EDITABLE}
        if change:  # through edit(): only changed columns, next run recomputed when the timing changed
            schedules.edit(obj.name, **fields)
        else:
            created = schedules.add(form.cleaned_data["name"], **fields)
            obj.pk = created.pk

    @admin.action(description="Run the selected schedules now")
    def run_now(self, request, queryset):
        for s in queryset:
            try:
                schedules.run_now(s.name)
            except ValueError as exc:
                messages.error(request, f"{s.name}: {exc}")
        messages.info(request, "started")

    @admin.action(description="Enable the selected schedules")
    def enable(self, request, queryset):
        for s in queryset:
            schedules.enable(s.name)

    @admin.action(description="Disable the selected schedules")
    def disable(self, request, queryset):
        for s in queryset:
            schedules.disable(s.name)
