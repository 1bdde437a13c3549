// Commis: the job list (live), the "New job" form, and one job's page (/commis/<id>).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText, qs, dur, when, num, type BackendInfo, type Job, type JobList } from '../api';
import { useTopics } from '../events';
import { linkClick, usePath } from '../router';
import { JobPage } from './Job';
import { Loading } from './parts';

const FILTERS: [string, string][] = [
  ['', 'All'],
  ['queued,running', 'Active'],
  ['queued', 'Queued'],
  ['running', 'Running'],
  ['succeeded', 'Succeeded'],
  ['failed,timed_out', 'Failed'],
  ['cancelled', 'Cancelled'],
];
const BACKENDS = ['shell', 'claude', 'codex', 'agent'];

export function Commis() {
  const path = usePath();
  const m = path.match(/^\/commis\/(\d+)$/);
  return m ? <JobPage key={m[1]} id={+m[1]} /> : <JobsList />;
}

/** The backends and whether each can run on the server (null until known: then all are offered). */
export function useBackends(): BackendInfo[] | null {
  const [list, setList] = useState<BackendInfo[] | null>(null);
  useEffect(() => {
    api<{ backends: BackendInfo[] }>('/commis/backends').then(
      (r) => setList(r.backends),
      () => setList(null),
    );
  }, []);
  return list;
}

/** Why a backend cannot run here and the one thing that fixes it. */
export function Unavailable({ b }: { b: BackendInfo }) {
  return (
    <>
      <b>{b.name}</b> is not available: {b.reason}.
      {b.fix && (
        <>
          {' '}
          Fix: <code>{b.fix}</code>
        </>
      )}
    </>
  );
}

/** Re-render every second while `on`. */
export function useTick(on: boolean): void {
  const [, set] = useState(0);
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => set((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [on]);
}

/** Seconds the job has run: the server's figure, plus the time since it was fetched while running. */
export function elapsed(j: Job, fetchedAt: number): number | null {
  if (j.elapsed == null) return null;
  return j.elapsed + (j.status === 'running' ? (Date.now() - fetchedAt) / 1000 : 0);
}

export function StatusBadge({ s }: { s: string }) {
  return (
    <span class={'badge st-' + s} data-testid="job-status" data-status={s}>
      {s.replace('_', ' ')}
    </span>
  );
}

function JobsList() {
  const [status, setStatus] = useState('');
  const [data, setData] = useState<JobList | null>(null);
  const [at, setAt] = useState(0);
  const [err, setErr] = useState('');
  const [form, setForm] = useState(false);
  const [limit, setLimit] = useState(50);
  const soon = useRef(0);
  const seq = useRef(0);

  const load = () => {
    const n = ++seq.current;
    api<JobList>('/commis/jobs' + qs({ status, limit })).then(
      (r) => n === seq.current && (setData(r), setAt(Date.now()), setErr('')),
      (e) => n === seq.current && setErr(errorText(e)),
    );
  };
  const later = () => {
    clearTimeout(soon.current);
    soon.current = setTimeout(load, 250) as unknown as number;
  };

  useEffect(() => {
    document.title = 'Commis · Zerg';
  }, []);
  useEffect(() => {
    load();
    const t = setInterval(load, 30000);
    return () => (clearInterval(t), clearTimeout(soon.current));
  }, [status, limit]);
  useTopics(['commis'], later);

  const jobs = data?.jobs || [];
  useTick(jobs.some((j) => j.status === 'running'));

  return (
    <section class="page" data-testid="commis">
      <header class="row">
        <h1>Commis</h1>
        <span class="muted" data-testid="slots">
          {data ? `${data.slots.running} / ${data.slots.max} slots in use · ${data.slots.queued} queued` : ''}
        </span>
      </header>
      <div class="row bar">
        <button class="btn primary" aria-expanded={form} onClick={() => setForm(!form)} data-testid="new-job">
          {form ? 'Close' : 'New job'}
        </button>
        <label class="inline">
          <span class="sr">Status</span>
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)} data-testid="status-filter">
            {FILTERS.map(([v, t]) => (
              <option key={v} value={v}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </div>
      {form && <NewJob onDone={() => (setForm(false), load())} />}
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {data && !jobs.length && <p class="muted">No jobs{status ? ' with this status' : ' yet'}.</p>}
      {!data && !err && <Loading />}
      <ul class="list" data-testid="jobs">
        {jobs.map((j) => (
          <li key={j.id}>
            <a
              href={'/commis/' + j.id}
              onClick={linkClick}
              class="item"
              data-testid="job-row"
              data-job-id={j.id}
              data-status={j.status}
            >
              <span class="row">
                <StatusBadge s={j.status} />
                <b>#{j.id}</b>
                <span class="muted">{j.backend}</span>
                <span class="end muted tabular">{dur(elapsed(j, at))}</span>
              </span>
              <span class="clamp">{j.task}</span>
              <small>
                {when(j.created_at)} · attempt {j.attempts}/{j.max_attempts}
                {j.exit_code != null ? ' · exit ' + j.exit_code : ''}
                {j.cost_usd != null ? ' · $' + j.cost_usd.toFixed(2) : ''}
                {j.usage && (j.usage as any).output_tokens ? ' · ' + num((j.usage as any).output_tokens) + ' out' : ''}
              </small>
            </a>
          </li>
        ))}
      </ul>
      {jobs.length >= limit && limit < 500 && (
        <button class="btn wide" onClick={() => setLimit(limit + 50)} data-testid="more-jobs">
          Show older jobs
        </button>
      )}
    </section>
  );
}

function NewJob({ onDone }: { onDone: () => void }) {
  const [task, setTask] = useState('');
  const [backend, setBackend] = useState('shell');
  const [repo, setRepo] = useState('');
  const backends = useBackends();
  const off = (backends || []).filter((b) => !b.available);
  const offered = backends || BACKENDS.map((name) => ({ name, available: true, reason: '', fix: '' }));
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    try {
      await api<Job>('/commis/jobs', { method: 'POST', body: { task, backend, repo_url: repo.trim(), origin: 'owner' } });
      onDone();
    } catch (x) {
      setErr(errorText(x));
      setBusy(false);
    }
  };
  return (
    <form class="card stack" onSubmit={submit} data-testid="job-form">
      <label>
        Task
        <textarea
          required
          rows={4}
          value={task}
          onInput={(e) => setTask(e.currentTarget.value)}
          placeholder={backend === 'shell' ? 'a shell command, e.g. make test' : 'what the agent should do'}
          data-testid="job-task"
        />
      </label>
      <div class="row">
        <label class="grow">
          Backend
          <select value={backend} onChange={(e) => setBackend(e.currentTarget.value)} data-testid="job-backend">
            {offered.map((b) => (
              <option key={b.name} value={b.name} disabled={!b.available}>
                {b.available ? b.name : `${b.name} (not available)`}
              </option>
            ))}
          </select>
        </label>
        <label class="grow">
          Repository URL (optional)
          <input inputMode="url" autoCapitalize="off" value={repo} onInput={(e) => setRepo(e.currentTarget.value)} placeholder="https://…" />
        </label>
      </div>
      {off.length > 0 && (
        <ul class="small muted" data-testid="backends-off">
          {off.map((b) => (
            <li key={b.name} data-backend={b.name}>
              <Unavailable b={b} />
            </li>
          ))}
        </ul>
      )}
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      <button class="btn primary" type="submit" disabled={busy || !task.trim()} data-testid="job-submit">
        {busy ? 'Starting…' : 'Start job'}
      </button>
    </form>
  );
}
