// Schedules (Sauron): every schedule with its next runs and last result; run now, enable/disable,
// edit, delete; the add/edit form previews the next runs and says what is wrong as you type.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText, qs, when, ago, type Job, type Schedule, type ScheduleFailures, type ScheduleRun, type ScheduleMissed } from '../api';
import { useTopics } from '../events';
import { linkClick } from '../router';
import { StatusBadge } from './Commis';
import { plural } from '../plural';
import { Loading } from './parts';

const BACKENDS = ['shell', 'claude', 'codex', 'agent'];
const localTz = (() => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
})();
const zones: string[] = (() => {
  try {
    return (Intl as any).supportedValuesOf('timeZone') as string[];
  } catch {
    return [];
  }
})();

/** 600 -> "10m", 5400 -> "1h 30m", 172800 -> "2d". */
export function every(sec: number): string {
  const parts: string[] = [];
  for (const [n, u] of [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']] as [number, string][]) {
    if (sec >= n) {
      parts.push(Math.floor(sec / n) + u);
      sec %= n;
    }
  }
  return parts.join(' ');
}

export function Schedules() {
  const [list, setList] = useState<Schedule[] | null>(null);
  const [err, setErr] = useState('');
  const [form, setForm] = useState<Schedule | 'new' | null>(null);
  const soon = useRef(0);

  const load = () =>
    api<{ schedules: Schedule[] }>('/schedules').then(
      (r) => (setList(r.schedules), setErr('')),
      (e) => setErr(errorText(e)),
    );
  useEffect(() => {
    document.title = 'Schedules · Zerg';
    load();
    const t = setInterval(load, 30000);
    return () => (clearInterval(t), clearTimeout(soon.current));
  }, []);
  // A scheduled job changing state changes its schedule's "last run".
  useTopics(['commis'], () => {
    clearTimeout(soon.current);
    soon.current = setTimeout(load, 400) as unknown as number;
  });

  const done = () => (setForm(null), load());
  return (
    <section class="page" data-testid="schedules">
      <header class="row">
        <h1>Schedules</h1>
        <button
          class="btn primary"
          aria-expanded={form === 'new'}
          onClick={() => setForm(form === 'new' ? null : 'new')}
          data-testid="new-schedule"
        >
          {form === 'new' ? 'Close' : 'New schedule'}
        </button>
      </header>
      {form === 'new' && <ScheduleForm onDone={done} onCancel={() => setForm(null)} />}
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {!list && !err && <Loading />}
      {list && !list.length && form !== 'new' && (
        <p class="muted">No schedules yet. A schedule starts a commis job on a cron expression or an interval.</p>
      )}
      <ul class="list" data-testid="schedule-list">
        {(list || []).map((s) =>
          form !== 'new' && form?.id === s.id ? (
            <li key={s.id}>
              <ScheduleForm initial={s} onDone={done} onCancel={() => setForm(null)} />
            </li>
          ) : (
            <Card key={s.id} s={s} onChange={load} onEdit={() => setForm(s)} />
          ),
        )}
      </ul>
    </section>
  );
}

function Card({ s, onChange, onEdit }: { s: Schedule; onChange: () => void; onEdit: () => void }) {
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ text: string; job?: number; bad?: boolean } | null>(null);
  const [sure, setSure] = useState(false);
  const [more, setMore] = useState(false);
  const [history, setHistory] = useState(false);
  const path = '/schedules/' + encodeURIComponent(s.name);

  const act = async (what: 'run' | 'enable' | 'disable' | 'delete') => {
    setBusy(true);
    setMsg(null);
    try {
      if (what === 'delete') await api(path, { method: 'DELETE' });
      else if (what === 'run') {
        const j = await api<Job>(path + '/run', { method: 'POST' });
        setMsg({ text: `Started job #${j.id}`, job: j.id });
      } else await api(path + '/' + what, { method: 'POST' });
      onChange();
    } catch (e) {
      setMsg({ text: errorText(e), bad: true });
    }
    setBusy(false);
    setSure(false);
  };

  const last = s.last_run;
  const miss = s.last_missed;
  return (
    <li class="card stack" data-testid="schedule-row" data-name={s.name} data-enabled={String(s.enabled)}>
      <div class="row">
        <b>{s.name}</b>
        <span class={'badge' + (s.enabled ? ' live' : '')} data-testid="schedule-state">
          {s.enabled ? 'enabled' : 'disabled'}
        </span>
        <span class="muted">{s.backend}</span>
        <span class="end muted">{s.cron ? `${s.cron} · ${s.tz}` : `every ${every(s.interval || 0)}`}</span>
      </div>
      <span class="clamp">{s.task}</span>
      <div>
        <small>Next run (your time)</small>
        <span data-testid="next-run">{s.next_runs.length ? when(s.next_runs[0]) : 'none (disabled)'}</span>
        {s.next_runs.length > 1 && (
          <button class="btn" style="margin-left:8px" onClick={() => setMore(!more)}
            aria-expanded={more} data-testid="more-runs">
            {more ? 'Less' : `Next ${s.next_runs.length}`}
          </button>
        )}
        {more && (
          <ol class="muted" data-testid="next-runs">
            {s.next_runs.map((t) => (
              <li key={t}>{when(t)}</li>
            ))}
          </ol>
        )}
      </div>
      <div data-testid="last-run">
        <small>Last run</small>
        {!last && <span class="muted">never</span>}
        {last && last.job_id && (
          <a href={'/commis/' + last.job_id} onClick={linkClick} class="row" style="text-decoration:none">
            <StatusBadge s={last.status} />
            <span>
              job #{last.job_id} · {last.trigger === 'manual' ? 'run now' : last.trigger === 'missed' ? 'catch-up' : 'on schedule'} ·{' '}
              {ago(last.created_at)}
            </span>
          </a>
        )}
        {last && !last.job_id && (
          <span class="bad" data-status={last.status}>
            {last.error ? 'could not start: ' + last.error : 'job deleted'}
          </span>
        )}
      </div>
      {miss && <MissLine m={miss} />}
      {msg && (
        <p class={msg.bad ? 'error' : 'muted'} role={msg.bad ? 'alert' : 'status'} data-testid="schedule-msg">
          {msg.job ? (
            <a href={'/commis/' + msg.job} onClick={linkClick}>
              {msg.text}
            </a>
          ) : (
            msg.text
          )}
        </p>
      )}
      {history && <History name={s.name} key={s.last_run?.id ?? 0} />}
      <div class="row">
        <button class="btn" disabled={busy} onClick={() => act('run')} data-testid="run-now">
          Run now
        </button>
        <button class="btn" disabled={busy} onClick={() => act(s.enabled ? 'disable' : 'enable')} data-testid="toggle">
          {s.enabled ? 'Disable' : 'Enable'}
        </button>
        <button class="btn" disabled={busy} onClick={onEdit} data-testid="edit">
          Edit
        </button>
        <button class="btn" onClick={() => setHistory(!history)} aria-expanded={history} data-testid="history">
          History
        </button>
        <button
          class={'btn danger' + (sure ? ' confirm' : '')}
          disabled={busy}
          onClick={() => (sure ? act('delete') : setSure(true))}
          onBlur={() => setSure(false)}
          data-testid="delete"
        >
          {sure ? 'Really delete?' : 'Delete'}
        </button>
      </div>
    </li>
  );
}

function ScheduleForm({ initial, onDone, onCancel }: { initial?: Schedule; onDone: () => void; onCancel: () => void }) {
  const [name, setName] = useState(initial?.name || '');
  const [mode, setMode] = useState<'cron' | 'interval'>(initial && !initial.cron ? 'interval' : 'cron');
  const [cron, setCron] = useState(initial?.cron || '0 3 * * *');
  const [tz, setTz] = useState(initial?.tz || localTz);
  const [interval, setInterval_] = useState(initial?.interval ? every(initial.interval).replace(/ /g, '') : '1h');
  const [task, setTask] = useState(initial?.task || '');
  const [backend, setBackend] = useState(initial?.backend || 'shell');
  const [repo, setRepo] = useState(initial?.repo_url || '');
  const [missed, setMissed] = useState(initial?.missed || 'skip');
  const [preview, setPreview] = useState<string[]>([]);
  const [timingErr, setTimingErr] = useState('');
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);

  // Preview the next runs (and catch a bad cron or time zone) while typing.
  useEffect(() => {
    let stale = false;
    const t = setTimeout(() => {
      const q = mode === 'cron' ? { cron, tz } : { interval };
      api<{ next_runs: string[] }>('/schedules/preview' + qs({ ...q, count: 3 })).then(
        (r) => !stale && (setPreview(r.next_runs), setTimingErr('')),
        (e) => !stale && (setPreview([]), setTimingErr(errorText(e))),
      );
    }, 300);
    return () => ((stale = true), clearTimeout(t));
  }, [mode, cron, tz, interval]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    const body = {
      task,
      backend,
      repo_url: repo.trim(),
      missed,
      tz: tz.trim() || 'UTC',
      cron: mode === 'cron' ? cron : '',
      interval: mode === 'interval' ? interval : null,
    };
    try {
      if (initial) await api('/schedules/' + encodeURIComponent(initial.name), { method: 'PATCH', body });
      else await api('/schedules', { method: 'POST', body: { name: name.trim(), ...body } });
      onDone();
    } catch (x) {
      setErr(errorText(x));
      setBusy(false);
    }
  };

  return (
    <form class="card stack" onSubmit={submit} data-testid="schedule-form">
      {!initial && (
        <label>
          Name
          <input required value={name} onInput={(e) => setName(e.currentTarget.value)} autoCapitalize="off"
            placeholder="nightly-tests" data-testid="schedule-name" />
        </label>
      )}
      {initial && <b>Edit {initial.name}</b>}
      <label>
        Runs
        <select value={mode} onChange={(e) => setMode(e.currentTarget.value as any)} data-testid="schedule-mode">
          <option value="cron">on a cron schedule</option>
          <option value="interval">every interval</option>
        </select>
      </label>
      {mode === 'cron' ? (
        <div class="row">
          <label class="grow">
            Cron expression
            <input value={cron} onInput={(e) => setCron(e.currentTarget.value)} autoCapitalize="off"
              spellcheck={false} placeholder="0 3 * * *" data-testid="schedule-cron" />
          </label>
          <label class="grow">
            Time zone
            <input value={tz} onInput={(e) => setTz(e.currentTarget.value)} list="tz-list" autoCapitalize="off"
              spellcheck={false} data-testid="schedule-tz" />
            <datalist id="tz-list">
              {zones.map((z) => (
                <option key={z} value={z} />
              ))}
            </datalist>
          </label>
        </div>
      ) : (
        <label>
          Every
          <input value={interval} onInput={(e) => setInterval_(e.currentTarget.value)} autoCapitalize="off"
            placeholder="10m, 1h30m, 2d" data-testid="schedule-interval" />
        </label>
      )}
      {timingErr ? (
        <p class="error" role="alert" data-testid="timing-error">
          {timingErr}
        </p>
      ) : (
        <small data-testid="preview">{preview.length ? 'Next: ' + preview.map(when).join(' · ') : ' '}</small>
      )}
      <label>
        Task
        <textarea required rows={3} value={task} onInput={(e) => setTask(e.currentTarget.value)}
          placeholder={backend === 'shell' ? 'a shell command, e.g. make backup' : 'what the agent should do'}
          data-testid="schedule-task" />
      </label>
      <div class="row">
        <label class="grow">
          Backend
          <select value={backend} onChange={(e) => setBackend(e.currentTarget.value)} data-testid="schedule-backend">
            {BACKENDS.map((b) => (
              <option key={b}>{b}</option>
            ))}
          </select>
        </label>
        <label class="grow">
          If runs were missed
          <select value={missed} onChange={(e) => setMissed(e.currentTarget.value as any)} data-testid="schedule-missed">
            <option value="skip">skip them</option>
            <option value="run_once">run once on start</option>
          </select>
        </label>
      </div>
      <label>
        Repository URL (optional)
        <input inputMode="url" autoCapitalize="off" value={repo} onInput={(e) => setRepo(e.currentTarget.value)}
          placeholder="https://…" />
      </label>
      {err && (
        <p class="error" role="alert" data-testid="schedule-error">
          {err}
        </p>
      )}
      <div class="row">
        <button class="btn primary" type="submit" disabled={busy || !task.trim() || (!initial && !name.trim())}
          data-testid="schedule-submit">
          {busy ? 'Saving…' : initial ? 'Save' : 'Add schedule'}
        </button>
        <button class="btn" type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The Dashboard's at-a-glance block: scheduled runs that failed in the last 7 days. */
export function FailedSchedules() {
  const [r, setR] = useState<ScheduleFailures | null>(null);
  const [err, setErr] = useState('');
  const soon = useRef(0);
  const load = () =>
    api<ScheduleFailures>('/schedules/failures' + qs({ days: 7, limit: 5 })).then(
      (x) => (setR(x), setErr('')),
      (e) => setErr(errorText(e)),
    );
  useEffect(() => {
    load();
    const t = setInterval(load, 60000);
    return () => (clearInterval(t), clearTimeout(soon.current));
  }, []);
  useTopics(['commis'], () => {
    clearTimeout(soon.current);
    soon.current = setTimeout(load, 1000) as unknown as number;
  });
  return (
    <div class="card stack" data-testid="failed-schedules" data-count={r ? r.count : undefined}>
      <div class="row">
        <b>Failed scheduled jobs</b>
        <span class={'end ' + (r && r.count ? 'bad' : 'ok')}>{r ? `${r.count} in ${plural(r.days, 'day')}` : err || '…'}</span>
      </div>
      {r?.runs.map((x) => (
        <a key={x.id} href={x.job_id ? '/commis/' + x.job_id : '/schedules'} onClick={linkClick} class="row"
          style="text-decoration:none" data-testid="failed-schedule">
          <StatusBadge s={x.status} />
          <b>{x.schedule}</b>
          <span class="muted">{x.job_id ? 'job #' + x.job_id : x.error} · {ago(x.created_at)}</span>
        </a>
      ))}
    </div>
  );
}

/** A missed-run record: which due times did not run on their own, and the reason Sauron stored. */
function MissLine({ m }: { m: ScheduleMissed }) {
  return (
    <p class="muted" data-testid="missed">
      {m.count} due time{m.count === 1 ? '' : 's'} not run on {m.count === 1 ? 'its' : 'their'} own ({when(m.first_at)}
      {m.count > 1 ? ' – ' + when(m.last_at) : ''}): {m.reason}
      {m.run_job_id ? ` (job #${m.run_job_id})` : ''}
    </p>
  );
}

/** A schedule's recent runs (each a link to its job) and its missed-run records. */
function History({ name }: { name: string }) {
  const [d, setD] = useState<{ runs: ScheduleRun[]; misses: ScheduleMissed[] } | null>(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    api<{ runs: ScheduleRun[]; misses: ScheduleMissed[] }>('/schedules/' + encodeURIComponent(name) + '?runs=20').then(
      setD,
      (e) => setErr(errorText(e)),
    );
  }, [name]);
  if (err) return <p class="error" role="alert">{err}</p>;
  if (!d) return <Loading />;
  return (
    <div data-testid="schedule-history">
      {!d.runs.length && <p class="muted">No runs yet.</p>}
      <ol class="list">
        {d.runs.map((r) => (
          <li key={r.id} class="row" data-testid="history-run">
            <StatusBadge s={r.status} />
            {r.job_id ? (
              <a href={'/commis/' + r.job_id} onClick={linkClick}>
                job #{r.job_id}
              </a>
            ) : (
              <span class="bad">{r.error || 'job deleted'}</span>
            )}
            <span class="muted">
              {r.trigger === 'manual' ? 'run now' : r.trigger === 'missed' ? 'catch-up' : 'on schedule'} · {when(r.created_at)}
            </span>
          </li>
        ))}
      </ol>
      {d.misses.map((m) => (
        <MissLine key={m.id} m={m} />
      ))}
    </div>
  );
}
