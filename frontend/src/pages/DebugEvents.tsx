// The raw event stream (every topic, newest first) and the worker ping: a developer's view, moved off
// the dashboard (issue 20) and linked from Settings.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, clock, errorText, type ZergEvent } from '../api';
import { stream, useStream } from '../events';
import { Back, Loading } from './parts';

export function DebugEvents() {
  const s = useStream();
  return (
    <section class="page" data-testid="debug-events">
      <Back href="/settings">Settings</Back>
      <header class="row">
        <h1>Live events</h1>
        <span class={'badge ' + s.state} data-testid="ws-state" title="Live updates connection" aria-live="polite">
          {s.state}
        </span>
      </header>
      <p class="muted">Everything the server publishes, as it happens: for finding out why something did not update.</p>
      <Ping />
      <h2>Latest events</h2>
      {!s.recent.length && (s.lastId < 0 ? <Loading /> : <p class="muted">No events yet.</p>)}
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
