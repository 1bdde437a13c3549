// The cockpit: what runs, what waits on the owner, the latest chats and shipped sessions, and what the
// setup still lacks; one request (GET /api/dashboard), then live over the event stream. The raw event
// stream is on /debug/events (linked from Settings).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ago, dur, errorText, type SystemStatus } from '../api';
import type { components } from '../api.gen';
import { stream, useStream, useTopics } from '../events';
import { linkClick } from '../router';
import { usd } from './Budget';
import { FailedSchedules } from './Schedules';
import { Loading } from './parts';

type Dash = components['schemas']['DashboardOut'];
type DashJob = Dash['jobs'][number];

// Topics whose events change what the cockpit shows (a job's own output is handled line by line).
const TOPICS = ['commis', 'oikos', 'timeline', 'schedules'];

export function Dashboard() {
  const s = useStream();
  const [d, setD] = useState<Dash | null>(null);
  const [err, setErr] = useState('');
  // The newest output line of each running job, live from its commis.output events.
  const [lines, setLines] = useState<Record<number, string>>({});
  const soon = useRef(0);

  const load = () =>
    api<Dash>('/dashboard').then(
      (r) => (setD(r), setErr('')),
      (e) => setErr(errorText(e)),
    );
  useEffect(() => {
    load();
    const off = stream.onEvent((e) => {
      if (e.kind !== 'commis.output' || !e.payload) return;
      const text = [...(e.payload.events || [])].reverse().find((x: any) => x && x.kind === 'output' && String(x.text || '').trim());
      if (text) setLines((m) => ({ ...m, [e.payload.job]: String(text.text).trim().slice(0, 300) }));
    });
    return () => (off(), clearTimeout(soon.current));
  }, []);
  // A burst of events (a job finishing, a ship of 200 sessions) is one reload, not 200.
  useTopics(TOPICS, () => {
    clearTimeout(soon.current);
    soon.current = setTimeout(load, 500) as unknown as number;
  });

  return (
    <section class="page cockpit" data-testid="dashboard">
      <header class="row">
        <h1>Dashboard</h1>
        <span class={'badge ' + s.state} data-testid="ws-state" title="Live updates connection" aria-live="polite">
          {s.state}
        </span>
      </header>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {!d && !err && <Loading />}
      {d && <Setup d={d} />}
      {d && <Answers d={d} />}
      {d && <Running d={d} lines={lines} />}
      <Health />
      {d && <DashSpend d={d} />}
      {d && <Threads d={d} />}
      {d && <Devices d={d} />}
      <h2>Schedules</h2>
      <FailedSchedules />
    </section>
  );
}

function DashSpend({ d }: { d: Dash }) {
  const { today_usd, today_partial, week_usd, week_partial, budget } = d.spend;
  const of = (n: number | null) => (n === null ? '' : ` of ${usd(n)}`);
  const at = (n: number, partial: boolean) => (partial ? '≥ ' : '') + usd(n);
  return (
    <>
      <h2>Spend</h2>
      <a class={'card item' + (budget.over ? ' bad' : '')} href="/spend" onClick={linkClick} data-testid="dash-spend">
        <b>
          Today {at(today_usd, today_partial)}
          {of(budget.daily.budget_usd)}, this week {at(week_usd, week_partial)}
        </b>
        {budget.monthly.budget_usd !== null && (
          <small>
            This month {usd(budget.monthly.spent_usd)}
            {of(budget.monthly.budget_usd)}
          </small>
        )}
        {budget.over && <small>{`Over budget: ${budget.reason}. Schedules wait; spawns ask first.`}</small>}
      </a>
    </>
  );
}

function Setup({ d }: { d: Dash }) {
  if (d.setup.complete) return null;
  return (
    <div class="card stack setup-card" data-testid="dash-setup">
      <b>Still missing in the setup</b>
      {d.setup.missing.map((m) => (
        <div key={m.name} class="fix" data-testid="setup-item">
          <span>
            <b>{m.name}</b>: {m.detail}
          </span>
          {m.fix && <code>{m.fix}</code>}
        </div>
      ))}
    </div>
  );
}

function Answers({ d }: { d: Dash }) {
  const { count, items } = d.attention;
  return (
    <>
      <h2>
        Needs you <span class={'badge' + (count ? ' bad' : '')}>{count}</span>
      </h2>
      {!count ? (
        <p class="muted">Nothing is waiting on you.</p>
      ) : (
        <ul class="list" data-testid="dash-attention">
          {items.slice(0, 5).map((a) => (
            <li key={a.key}>
              <a class="item" href={a.url} onClick={linkClick} data-testid="dash-attention-item">
                <b>{a.title}</b>
                {a.detail && <small class="clamp1">{a.detail}</small>}
              </a>
            </li>
          ))}
          {count > 5 && (
            <li>
              <a class="tap" href="/attention" onClick={linkClick}>
                All {count} in the inbox
              </a>
            </li>
          )}
        </ul>
      )}
    </>
  );
}

/** Seconds a job has run, counted on this phone from its start (re-rendered every second while shown). */
function useNow(on: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now;
}

function Running({ d, lines }: { d: Dash; lines: Record<number, string> }) {
  const now = useNow(d.jobs.some((j) => j.status === 'running'));
  const elapsed = (j: DashJob) => (j.started_at ? (now - Date.parse(j.started_at)) / 1000 : null);
  return (
    <>
      <h2>
        Running{' '}
        <span class="badge">
          {d.slots.running} / {d.slots.max}
        </span>
      </h2>
      {!d.jobs.length ? (
        <p class="muted">
          No commis is running.{' '}
          <a href="/commis" onClick={linkClick}>
            Start one
          </a>
        </p>
      ) : (
        <ul class="list" data-testid="dash-jobs">
          {d.jobs.map((j) => (
            <li key={j.id}>
              <a class="item" href={'/commis/' + j.id} onClick={linkClick} data-testid="dash-job" data-status={j.status}>
                <span class="row nowrap">
                  <b class={'st-' + j.status}>{j.status}</b>
                  <span class="clamp1">
                    #{j.id} {j.task}
                  </span>
                  <span class="end tabular muted">
                    {j.status === 'running' ? dur(elapsed(j)) : 'queued ' + ago(j.created_at)}
                  </span>
                </span>
                {j.status === 'running' && (
                  <span class="lastline" data-testid="dash-job-line">
                    {lines[j.id] ?? j.last_line ?? ''}
                    {!(lines[j.id] ?? j.last_line) && 'no output yet'}
                  </span>
                )}
              </a>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Threads({ d }: { d: Dash }) {
  return (
    <>
      <h2>Chats</h2>
      {!d.threads.length ? (
        <p class="muted">
          No chat yet.{' '}
          <a href="/chat" onClick={linkClick}>
            Ask Oikos something
          </a>
        </p>
      ) : (
        <ul class="list" data-testid="dash-threads">
          {d.threads.map((t) => (
            <li key={t.id}>
              <a class="item" href={'/chat/' + t.id} onClick={linkClick} data-testid="dash-thread">
                <span class="row nowrap">
                  <b class="clamp1">{t.title || 'Untitled chat'}</b>
                  <small class="end">{t.interrupt ? 'needs your answer' : t.running ? 'answering…' : ago(t.updated_at)}</small>
                </span>
                {t.preview && <small class="clamp1">{t.preview}</small>}
              </a>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Devices({ d }: { d: Dash }) {
  return (
    <>
      <h2>Devices</h2>
      {!d.devices.length ? (
        <p class="muted">
          No device has shipped sessions yet.{' '}
          <a href="/settings#devices" onClick={linkClick}>
            Connect a laptop
          </a>
        </p>
      ) : (
        <ul class="list" data-testid="dash-devices">
          {d.devices.map((v) => (
            <li key={v.device} class="card stack" data-testid="dash-device">
              <span class="row">
                <b>{v.device}</b>
                <small class="end">
                  {v.sessions} session{v.sessions === 1 ? '' : 's'} · last shipped {ago(v.last_shipped)}
                </small>
              </span>
              {v.latest.map((x) => (
                <a key={x.id} href={'/timeline/' + x.id} onClick={linkClick} class="tap clamp1">
                  {x.title || x.project || x.provider + ' session'}
                </a>
              ))}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

/** Whether a worker runs the commis (the heartbeat says), refreshed when one starts or stops. */
function Health() {
  const [st, setSt] = useState<SystemStatus | null>(null);
  useEffect(() => {
    let soon = 0;
    const load = () => api<SystemStatus>('/system/status').then(setSt, () => {});
    load();
    const every = setInterval(load, 10000);
    const off = stream.onEvent((e) => {
      if (/^(worker|server)\./.test(e.kind)) {
        clearTimeout(soon);
        soon = setTimeout(load, 300) as unknown as number;
      }
    });
    return () => (clearInterval(every), clearTimeout(soon), off());
  }, []);
  const w = (st?.workers || [])
    .slice()
    .sort((a, b) => +b.alive - +a.alive || Date.parse(b.last_seen) - Date.parse(a.last_seen))[0];
  return (
    <p class="row small-row">
      <span>Worker:</span>
      <b
        data-testid="worker-alive"
        data-alive={st ? String(st.worker_alive) : undefined}
        class={st ? (st.worker_alive ? 'ok' : 'bad') : ''}
      >
        {st ? (st.worker_alive ? 'running' : 'not running') : '…'}
      </b>
      {w && <small>seen {ago(w.last_seen)}</small>}
    </p>
  );
}
