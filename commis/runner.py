"""Runs one attempt of a commis job inside a django-q2 worker process.

    claim -> check backend -> prepare workspace -> run (subprocess in its own process
    group, or inline) while a control thread heartbeats, polls for cancel, enforces the
    timeout and flushes output events -> diff.patch -> finish

No database transaction is ever held across the subprocess: every write is one short
statement. Output lines go to ``artifacts/log.txt`` at once and to the event log in
batches (every 200 ms or 50 events) as ``commis.output`` on topic ``commis:<id>``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections, connection

from commis import jobs
from commis.backends import BackendUnavailable, get_backend
from commis.backends.base import FAILED, SUCCEEDED, JobEvent, Outcome
from commis.models import Job
from commis.workspaces import WorkspaceError, commit_and_push, prepare, write_diff
from zerg_site import budget
from zerg_site.events import publish
from zerg_site.pdeathsig import die_with_parent

log = logging.getLogger("zerg.commis")

FLUSH_INTERVAL = 0.2
FLUSH_LINES = 50
POLL_INTERVAL = 1.0  # cancel / lease checks
MAX_EVENT_TEXT = 16_000


class Runner:
    def __init__(self, job: Job):
        self.job = job
        self.lease = job.lease
        self.backend = None
        self.workspace = None
        self.logfile = None
        self.log_error: OSError | None = None
        self.pending: list[dict] = []
        self.lock = threading.Lock()
        self.stop_reason: str | None = None
        self.stop_at = 0.0
        self.killed = False
        self.proc: subprocess.Popen | None = None
        self.children: list[subprocess.Popen] = []
        self.done = threading.Event()
        self.usage: dict = {}
        self.cost_usd = None
        self.session_id = ""
        self.started = time.monotonic()
        self.last_beat_ok = time.monotonic()
        self.over_cost: float | None = None  # the cost that passed the job's budget_usd

    # --- output

    def write_log(self, text: str) -> None:
        if self.logfile is not None:
            with self.lock:
                try:
                    self.logfile.write(text if text.endswith("\n") else text + "\n")
                    self.logfile.flush()
                except OSError as exc:  # a full disk mid-run: the job goes on, its events still reach the database
                    if self.log_error is None:
                        self.log_error = exc
                        log.warning("commis job %s: log.txt is incomplete: %s", self.job.id, exc)

    def add_events(self, events: list[JobEvent]) -> None:
        with self.lock:
            for event in events:
                if event.kind == "session" and event.payload.get("session_id"):
                    self.session_id = str(event.payload["session_id"])
                elif event.kind == "usage":
                    usage = dict(event.payload)
                    cost = usage.pop("cost_usd", None)
                    if cost is not None:
                        self.cost_usd = cost
                    self.usage.update(usage)
                record = event.as_dict()
                if len(record["text"]) > MAX_EVENT_TEXT:  # the full line stays in log.txt
                    record["text"] = record["text"][:MAX_EVENT_TEXT] + f"… [{len(event.text)} chars]"
                self.pending.append(record)
        self.check_budget()

    def spent(self) -> float | None:
        """The attempt's known cost: the usage events' figure or the backend's own running count."""
        try:
            estimate = self.backend.spent(self.job) if self.backend is not None else None
        except Exception:  # a pricing problem must not break the run; the final figure still counts
            log.exception("commis job %s: could not price its usage so far", self.job.id)
            estimate = None
        known = [c for c in (self.cost_usd, estimate) if c is not None]
        return max(known) if known else None

    def check_budget(self) -> None:
        """Past its own budget: stopped as cancel stops it (the whole process group), status over_budget."""
        if self.job.budget_usd is None or self.stop_reason is not None:
            return
        cost = self.spent()
        if budget.job_over(cost, self.job.budget_usd):
            self.over_cost = cost
            self.write_log(
                f"=== zerg: its cost {budget.money(cost)} passed its budget "
                f"{budget.money(self.job.budget_usd)}: stopping it"
            )
            self.request_stop("over_budget")

    def on_line(self, line: str) -> None:
        raw = self.backend is None or getattr(self.backend, "log_raw_output", True)
        if raw:
            self.write_log(line)
        if self.backend is not None and not self.backend.inline:
            try:
                events = self.backend.on_output(self.job, line)
            except Exception:
                log.exception("backend %s failed on an output line of job %s", self.job.backend, self.job.id)
                events = [JobEvent("output", line)]
        else:
            events = [JobEvent("output", line)]
        if not raw:
            for event in events or []:
                if event.kind == "output":
                    self.write_log(event.text)
                elif event.text:
                    self.write_log(f"[{event.kind}] {event.text}")
        self.add_events(events or [])

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
            session_id = self.session_id
        if session_id and session_id != self.job.session_id:
            self.job.session_id = session_id
            jobs.update_running(self.job.id, self.lease, session_id=session_id)
        for start in range(0, len(batch), 200):
            try:
                publish(
                    jobs.topic(self.job.id),
                    "commis.output",
                    {"job": self.job.id, "attempt": self.job.attempts, "events": batch[start : start + 200]},
                )
            except Exception:
                with self.lock:  # keep what was not published for the next flush
                    self.pending[:0] = batch[start:]
                raise

    # --- the process group

    def signal_group(self, sig: int) -> None:
        for proc in [self.proc, *self.children]:
            if proc is None:
                continue
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_at = time.monotonic()
            log.info("commis job %s: stopping (%s)", self.job.id, reason)
            self.signal_group(signal.SIGTERM)

    # --- the control thread: heartbeat, cancel, timeout, flush

    def control(self) -> None:
        interval = settings.ZERG.heartbeat_interval
        fence = max(settings.ZERG.stale_threshold * 0.75, interval * 1.5)
        grace = getattr(self.backend, "kill_grace", 5.0) if self.backend else 5.0
        last_poll = last_flush = last_beat = time.monotonic()
        try:
            while not self.done.wait(0.05):
                now = time.monotonic()
                try:
                    if self.pending and (now - last_flush >= FLUSH_INTERVAL or len(self.pending) >= FLUSH_LINES):
                        last_flush = now
                        self.flush()
                    if now - last_beat >= interval:
                        last_beat = now
                        if jobs.heartbeat(self.job.id, self.lease):
                            self.last_beat_ok = now
                        else:
                            self.request_stop("lost_lease")
                    if now - last_poll >= POLL_INTERVAL:
                        last_poll = now
                        state = jobs.poll(self.job.id, self.lease)
                        if state:
                            self.request_stop(state)
                except Exception as exc:  # the database is unavailable: keep the process, up to the fence
                    log.warning("commis job %s: control step failed: %s", self.job.id, exc)
                    close_old_connections()
                if now - self.last_beat_ok > fence:
                    self.request_stop("lost_lease")  # we cannot prove we still hold the job: fence ourselves
                if self.job.timeout and now - self.started > self.job.timeout:
                    self.request_stop("timed_out")
                if self.stop_reason and not self.killed and now - self.stop_at >= grace:
                    self.killed = True
                    self.signal_group(signal.SIGKILL)
        finally:
            connection.close()

    # --- one attempt

    def run(self) -> str:
        job = self.job
        try:
            self.backend = get_backend(job.backend)
            self.backend.check(job)
        except BackendUnavailable as exc:
            return self.end(FAILED, summary=str(exc))
        try:
            self.workspace = ws = prepare(job)
        except (WorkspaceError, OSError, subprocess.SubprocessError) as exc:
            return self.end(FAILED, summary=f"workspace: {exc}")
        jobs.update_running(
            job.id,
            self.lease,
            workspace=str(ws.path),
            artifacts_dir=str(ws.artifacts),
            branch=ws.branch or job.branch,
            base_commit=ws.base_commit,
        )
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        try:  # a full disk fails the job with a readable summary, not a crashed attempt redelivered 5 times
            self.logfile = open(ws.artifacts / "log.txt", "a", encoding="utf-8", errors="replace")
            self.logfile.write(
                f"=== zerg: attempt {job.attempts} of job {job.id} [{job.backend}] on {job.worker} at {stamp}\n"
            )
            self.logfile.flush()
        except OSError as exc:
            self.close_log()
            return self.end(
                FAILED, summary=f"cannot write the job's log ({ws.artifacts / 'log.txt'}): {exc.strerror or exc}"
            )
        jobs.publish_status(job, started=True)

        thread = threading.Thread(target=self.control, name=f"commis-{job.id}", daemon=True)
        exit_code = None
        try:
            if self.backend.inline:
                thread.start()
                outcome = self.backend.run_inline(job, ws, InlineContext(self))
            else:
                job_env = {**os.environ, "ZERG_JOB_ID": str(job.id), "ZERG_JOB_LEASE": self.lease}
                job_env.pop("ZERG_WORKER_NAME", None)
                thread.start()  # heartbeats go on while a backend's start() waits (the agent host)
                self.proc = self.backend.start(job, ws, job_env)
                if self.proc is None:
                    argv, env = self.backend.command(job, ws)
                    self.proc = subprocess.Popen(
                        argv,
                        cwd=ws.path,
                        env={**job_env, **(env or {}), "ZERG_JOB_LEASE": self.lease},
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=die_with_parent,
                    )
                if self.stop_reason:  # stopped while it was starting
                    self.signal_group(signal.SIGKILL if self.killed else signal.SIGTERM)
                jobs.update_running(job.id, self.lease, pid=self.proc.pid)
                reader = threading.Thread(target=self.read, name=f"commis-out-{job.id}", daemon=True)
                reader.start()
                exit_code = self.proc.wait()
                self.signal_group(signal.SIGKILL)  # what the job left behind must not outlive it
                reader.join(10)
                outcome = self.backend.on_exit(job, ws, exit_code)
        except BackendUnavailable as exc:
            outcome = Outcome(FAILED, summary=str(exc))
        except FileNotFoundError as exc:
            outcome = Outcome(FAILED, summary=f"cannot start the {job.backend} backend: {exc}")
        except Exception as exc:
            log.exception("commis job %s crashed", job.id)
            outcome = Outcome(FAILED, summary=f"{exc.__class__.__name__}: {exc}")
        finally:
            self.done.set()
            self.signal_group(signal.SIGKILL)
            if thread.is_alive():
                thread.join(5)
        close_old_connections()
        return self.conclude(outcome, exit_code)

    def read(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            self.on_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        self.proc.stdout.close()

    def conclude(self, outcome: Outcome, exit_code: int | None) -> str:
        reason = self.stop_reason
        if reason == "lost_lease":
            self.write_log("=== zerg: this attempt lost its lease (the job was reclaimed); stopped")
            self.flush()
            self.close_log()
            return "lost_lease"
        final_cost = outcome.cost_usd if outcome.cost_usd is not None else self.cost_usd
        if reason is None and budget.job_over(final_cost, self.job.budget_usd):  # known only at the end (codex)
            reason, self.over_cost = "over_budget", final_cost
        if reason == "over_budget":
            final_cost = max(c for c in (final_cost, self.over_cost) if c is not None)
        status = {"cancelled": Job.CANCELLED, "timed_out": Job.TIMED_OUT, "over_budget": Job.OVER_BUDGET}.get(
            reason, outcome.status
        )
        summary = outcome.summary
        if reason == "over_budget":
            summary = (
                f"over budget: cost {budget.money(final_cost)} passed its budget "
                f"{budget.money(self.job.budget_usd)}" + (f"; {summary}" if summary else "")
            )
            budget.decided(
                "job_stopped",
                {"job": self.job.id, "cost_usd": final_cost, "budget_usd": self.job.budget_usd},
                jobs.topic(self.job.id),
            )
        elif reason == "cancelled":
            summary = "cancelled" + (f": {summary}" if summary else "")
        elif reason == "timed_out":
            summary = f"timed out after {self.job.timeout}s" + (f": {summary}" if summary else "")
        try:
            if self.workspace is not None:
                write_diff(self.workspace)
        except Exception as exc:
            self.write_log(f"=== zerg: could not write diff.patch: {exc}")
        options = self.job.options or {}
        if status == SUCCEEDED and (options.get("push") or options.get("commit")) and self.workspace is not None:
            try:
                first_line = self.job.task.strip().splitlines()[0][:72]
                report = commit_and_push(
                    self.workspace, f"zerg job {self.job.id}: {first_line}", push=bool(options.get("push"))
                )
                self.write_log(f"=== zerg: {report}")
            except (WorkspaceError, OSError, subprocess.SubprocessError) as exc:
                status, summary = FAILED, f"the job succeeded but the push failed: {exc}"
        if self.log_error is not None:
            note = f"log.txt is incomplete: {self.log_error.strerror or self.log_error}"
            summary = f"{summary}; {note}" if summary else note
        usage = {**self.usage, **(outcome.usage or {})}
        self.write_log(f"=== zerg: {status}" + (f" (exit code {exit_code})" if exit_code is not None else ""))
        self.flush()
        self.close_log()
        return self.end(
            status,
            summary=summary,
            exit_code=exit_code,
            usage=usage,
            cost_usd=final_cost,
            session_id=outcome.session_id or self.session_id or self.job.session_id,
        )

    def close_log(self) -> None:
        if self.logfile is not None:
            try:
                self.logfile.close()
            except OSError:  # the last buffered bytes on a full disk; write_log already said so
                pass
            self.logfile = None

    def end(self, status: str, **fields) -> str:
        fields["summary"] = (fields.get("summary") or "")[:10000]
        if not jobs.finish(self.job.id, self.lease, status, **fields):
            return "lost_lease"
        return status


class InlineContext:
    """The :class:`commis.backends.base.RunContext` of an inline backend."""

    def __init__(self, runner: Runner):
        self.runner = runner

    def emit(self, event: JobEvent) -> None:
        if event.text:
            self.runner.write_log(f"[{event.kind}] {event.text}")
        self.runner.add_events([event])

    def log(self, text: str) -> None:
        self.runner.on_line(text)

    def should_stop(self) -> str | None:
        return self.runner.stop_reason

    def run_subprocess(self, argv, cwd, timeout=None, env=None) -> tuple[int, str]:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {}), "ZERG_JOB_LEASE": self.runner.lease},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.runner.children.append(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return -9, out.decode("utf-8", errors="replace") + f"\n[killed after {timeout}s]"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.runner.children.remove(proc)
        return proc.returncode, out.decode("utf-8", errors="replace")


def run_job(job_id: int) -> str:
    """Claim and run one attempt; returns the final status, "duplicate" or "lost_lease"."""
    close_old_connections()
    job = jobs.claim(job_id)
    if job is None:
        return "duplicate"
    jobs.publish_status(job)
    return Runner(job).run()
