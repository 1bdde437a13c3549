// Chat with Oikos: the thread list (/chat, searchable, live) and one thread (/chat/<id>, in ChatThread.tsx).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText, qs, ago, num, type OikosThread, type OikosUsage } from '../api';
import { useTopics } from '../events';
import { linkClick, navigate, usePath } from '../router';
import { ThreadPage } from './ChatThread';
import { Loading } from './parts';

export function Chat() {
  const path = usePath();
  const m = path.match(/^\/chat\/(\d+)$/);
  return m ? <ThreadPage key={m[1]} id={+m[1]} /> : <Threads />;
}

/** "1.2k in · 340 out · $0.0123" (empty when nothing was spent yet). */
export function usageText(u: Partial<OikosUsage> | null | undefined, cost: number | null | undefined): string {
  const parts: string[] = [];
  const input = (u?.input_tokens || 0) + (u?.cache_read_input_tokens || 0) + (u?.cache_creation_input_tokens || 0);
  if (input || u?.output_tokens) parts.push(num(input) + ' in', num(u?.output_tokens) + ' out');
  if (cost != null && (cost > 0 || parts.length)) parts.push('$' + cost.toFixed(cost < 1 ? 4 : 2));
  return parts.join(' · ');
}

export function threadTitle(t: { title: string; id: number }): string {
  return t.title || `Conversation #${t.id}`;
}

/** Markers shared by the list and the thread header. */
export function Markers({ running, interrupt }: { running: boolean; interrupt: boolean }) {
  return (
    <>
      {running && (
        <span class="badge st-running" data-testid="thread-running">
          running
        </span>
      )}
      {interrupt && (
        <span class="badge bad" data-testid="thread-interrupt">
          needs your answer
        </span>
      )}
    </>
  );
}

function Threads() {
  const path = usePath();
  const q0 = new URLSearchParams(location.search).get('q') || '';
  const [q, setQ] = useState(q0);
  const [threads, setThreads] = useState<OikosThread[] | null>(null);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const seq = useRef(0);
  const soon = useRef(0);

  const load = () => {
    const n = ++seq.current;
    api<OikosThread[]>('/oikos/threads' + qs({ q: q0 })).then(
      (r) => n === seq.current && (setThreads(r), setErr('')),
      (e) => n === seq.current && setErr(errorText(e)),
    );
  };
  const later = () => {
    clearTimeout(soon.current);
    soon.current = setTimeout(load, 300) as unknown as number;
  };
  useEffect(() => {
    document.title = 'Chat · Zerg';
  }, []);
  useEffect(() => setQ(q0), [q0]);
  useEffect(() => {
    load();
    return () => clearTimeout(soon.current);
  }, [q0]);
  // Any thread's news (a new message, a turn starting or ending) moves it in the list.
  useTopics(['oikos'], later);

  const create = async () => {
    setBusy(true);
    setErr('');
    try {
      const t = await api<OikosThread>('/oikos/threads', { method: 'POST', body: {} });
      navigate('/chat/' + t.id);
    } catch (e) {
      setErr(errorText(e));
      setBusy(false);
    }
  };

  return (
    <section class="page" data-testid="chat">
      <header class="row">
        <h1>Chat</h1>
        <button class="btn primary" onClick={create} disabled={busy} data-testid="new-thread">
          {busy ? 'Starting…' : 'New conversation'}
        </button>
      </header>
      <form class="row search" role="search" onSubmit={(e) => (e.preventDefault(), navigate(path + qs({ q: q.trim() }), true))}>
        <label class="grow">
          <span class="sr">Search conversations</span>
          <input
            type="search"
            value={q}
            onInput={(e) => setQ(e.currentTarget.value)}
            placeholder="Search conversations"
            data-testid="thread-search"
          />
        </label>
        <button class="btn" type="submit">
          Search
        </button>
      </form>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {!threads && !err && <Loading />}
      {threads && !threads.length && (
        <p class="muted">
          {q0 ? 'No conversation matches.' : 'No conversations yet. Start one and ask Oikos to run some commis for you.'}
        </p>
      )}
      <ul class="list" data-testid="threads">
        {(threads || []).map((t) => (
          <li key={t.id}>
            <a href={'/chat/' + t.id} onClick={linkClick} class="item" data-testid="thread-row" data-thread-id={t.id}>
              <span class="row nowrap">
                <b class="clamp1">{threadTitle(t)}</b>
                <span class="end row nowrap">
                  <Markers running={t.running} interrupt={t.interrupt} />
                </span>
              </span>
              {t.preview && <span class="preview">{t.preview}</span>}
              <small>
                {ago(t.updated_at)}
                {usageText(t.usage, t.cost_usd) ? ' · ' + usageText(t.usage, t.cost_usd) : ''}
              </small>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
