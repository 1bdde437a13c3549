import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ago, clock, errorText, type SystemStatus, type ZergEvent } from '../api';
import { stream, useStream } from '../events';
import { FailedSchedules } from './Schedules';

export function Dashboard() {
  const s = useStream();
  return (
    <section class="page" data-testid="dashboard">
      <header class="row">
        <h1>Dashboard</h1>
        <span
          class={'badge ' + s.state}
          data-testid="ws-state"
          title="Live updates connection"
          aria-live="polite"
        >
          {s.state}
        </span>
      </header>
      <Health />
      <FailedSchedules />
      <Ping />
      <h2>Latest events</h2>
      {!s.recent.length && <p class="muted">{s.lastId < 0 ? 'Loading…' : 'No events yet.'}</p>}
      <ol class="events" data-testid="events">
        {s.recent.map((e) => (
          <li key={e.id} class="event" data-testid="event-row" data-event-id={e.id} data-kind={e.kind}>
            <time dateTime={e.created_at}>{clock(e.created_at)}</time>
            <span class="topic">{e.topic}</span>
            <b>{e.kind}</b>
            <code>{compact(e.payload)}</code>
          </li>
        ))}
      </ol>
    </section>
  );
}

function compact(payload: unknown): string {
  if (payload == null) return '';
  const t = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return t === '{}' ? '' : t.length > 200 ? t.slice(0, 199) + '…' : t;
}

function Health() {
  const [st, setSt] = useState<SystemStatus | null>(null);
  const [err, setErr] = useState('');

  useEffect(() => {
    let soon = 0;
    const load = () =>
      api<SystemStatus>('/system/status').then(
        (r) => (setSt(r), setErr('')),
        (e) => setErr(errorText(e)),
      );
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

  // The most recently seen worker, alive ones first.
  const w = (st?.workers || [])
    .slice()
    .sort((a, b) => +b.alive - +a.alive || Date.parse(b.last_seen) - Date.parse(a.last_seen))[0];

  return (
    <>
      {err && (
        <p class="error" role="alert">
          Status: {err}
        </p>
      )}
      <dl class="cards">
        <div class="card">
          <dt>Worker alive</dt>
          <dd>
            <span
              data-testid="worker-alive"
              data-alive={st ? String(st.worker_alive) : undefined}
              class={st ? (st.worker_alive ? 'ok' : 'bad') : ''}
            >
              {st ? (st.worker_alive ? 'yes' : 'no') : '…'}
            </span>
            {w && <small>seen {ago(w.last_seen)}</small>}
          </dd>
        </div>
        <div class="card">
          <dt>Commis slots</dt>
          <dd>
            {st ? `${st.commis_slots.running} / ${st.commis_slots.max}` : '…'}
            <small>running / max</small>
          </dd>
        </div>
        <div class="card">
          <dt>Database</dt>
          <dd>{st?.database ?? '…'}</dd>
        </div>
        <div class="card">
          <dt>Version</dt>
          <dd>{st?.version ?? '…'}</dd>
        </div>
      </dl>
    </>
  );
}

// "Ping worker": POST /api/system/ping, then wait for the worker.pong event
// carrying the same task_id on the stream. The pong may overtake the POST's
// response, so pongs are collected from before the request is sent.
function Ping() {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const cleanup = useRef<(() => void) | undefined>(undefined);
  useEffect(() => () => cleanup.current?.(), []);

  const ping = async () => {
    cleanup.current?.();
    setBusy(true);
    setText('waiting…');
    const t0 = performance.now();
    const pongs = new Map<string, [number, ZergEvent]>();
    let want = '';
    let timer = 0;
    const done = (msg: string) => {
      cleanup.current?.();
      setText(msg);
    };
    const check = () => {
      const p = pongs.get(want);
      if (p) done(`pong from worker pid ${p[1].payload?.worker_pid ?? '?'} in ${Math.round(p[0] - t0)} ms`);
    };
    const off = stream.onEvent((e) => {
      if (e.kind === 'worker.pong' && e.payload) {
        pongs.set(String(e.payload.task_id), [performance.now(), e]);
        if (want) check();
      }
    });
    cleanup.current = () => {
      off();
      clearTimeout(timer);
      setBusy(false);
      cleanup.current = undefined;
    };
    try {
      const r = await api<{ task_id: string | number }>('/system/ping', { method: 'POST' });
      want = String(r.task_id);
      timer = setTimeout(() => done('no pong after 30 s: is the worker running?'), 30000) as unknown as number;
      check();
    } catch (e) {
      done('ping failed: ' + errorText(e));
    }
  };

  return (
    <div class="row ping">
      <button class="btn" onClick={ping} disabled={busy} data-testid="ping-worker">
        Ping worker
      </button>
      <output data-testid="ping-result" aria-live="polite">
        {text}
      </output>
    </div>
  );
}
