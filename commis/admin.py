from django.contrib import admin, messages

from commis import jobs
from commis.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "backend", "status", "short_task", "attempts", "worker", "created_at", "finished_at")
    list_filter = ("status", "backend", "origin")
    search_fields = ("task", "summary", "repo_url")
    readonly_fields = ("lease", "worker", "host", "pid", "heartbeat_at", "attempts", "started_at", "finished_at",
                       "exit_code", "usage", "cost_usd", "session_id", "workspace", "artifacts_dir", "base_commit")
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
