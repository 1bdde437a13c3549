// One timeline session: the conversation, paged, with #event-<id> anchors.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText, qs, when, num, usd, type Continuations, type SessionDetail, type TEvent, type TSession } from '../api';
import { useTopics } from '../events';
import { Back, Fact, Pending } from './parts';
import { linkClick } from '../router';
import { Provider, sessionTitle } from './Timeline';
import { Markdown } from './Markdown';
import { plural } from '../plural';
import { StatusBadge, Unavailable, useBackends } from './Commis';

type Detail = SessionDetail;

const PAGE = 200;

/** A session's cost plus its subagents' (partial if any part is). */
function withSubagents(s: TSession, subs: TSession[]) {
  const all = [s, ...subs];
  const known = all.filter((x) => x.cost_usd != null);
  return {
    cost_usd: known.length ? known.reduce((sum, x) => sum + (x.cost_usd || 0), 0) : null,
    cost_partial: all.some((x) => x.cost_partial),
  };
}

export function SessionPage({ id }: { id: string }) {
  const [d, setD] = useState<Detail | null>(null);
  const [events, setEvents] = useState<TEvent[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const [hl, setHl] = useState(0);
  const [all, setAll] = useState(false);
  const st = useRef({ last: -1, loading: false });

  const page = async (after: number, limit = PAGE): Promise<Detail | null> => {
    const r = await api<Detail>(`/timeline/sessions/${encodeURIComponent(id)}` + qs({ after, limit }));
    setD(r);
    const last = st.current.last;
    const fresh = after < 0 ? r.events : r.events.filter((e) => e.ordinal > last);
    setEvents((old) => (after < 0 ? fresh : [...old, ...fresh]));
    if (r.events.length) st.current.last = Math.max(st.current.last, r.events[r.events.length - 1].ordinal);
    setNext(r.next_after);
    return r;
  };

  const more = async (limit = PAGE) => {
    if (st.current.loading) return;
    st.current.loading = true;
    setBusy(true);
    try {
      await page(st.current.last, limit);
      setErr('');
    } catch (e) {
      setErr(errorText(e));
    } finally {
      st.current.loading = false;
      setBusy(false);
    }
  };

  // First page, then more pages until the #event-<id> target is loaded (bounded).
  useEffect(() => {
    (async () => {
      st.current.loading = true;
      try {
        const want = +(location.hash.match(/^#event-(\d+)$/) || [])[1] || 0;
        let r = await page(-1);
        let seen = r?.events.some((e) => e.id === want);
        for (let i = 0; want && !seen && r && r.next_after != null && i < 20; i++) {
          r = await page(r.next_after, 1000);
          seen = r?.events.some((e) => e.id === want);
        }
        if (r) document.title = sessionTitle(r.session) + ' · Zerg';
        setHl(want);
      } catch (e) {
        setErr(errorText(e));
      } finally {
        st.current.loading = false;
      }
    })();
  }, [id]);

  // Scroll to the anchored event and open the block it sits in.
  useEffect(() => {
    if (!hl) return;
    const el = document.getElementById('event-' + hl);
    if (!el) return;
    if (el instanceof HTMLDetailsElement) el.open = true;
    const center = () => el.scrollIntoView({ block: 'center' });
    center();
    el.focus({ preventScroll: true });
    // Boxes above it ("Continue on server") arrive with their own requests and push it down; near
    // the top of the page the browser's scroll anchoring does not make up for that. So it is
    // centered again while the page grows, until the reader scrolls or the page has settled.
    const grows = new ResizeObserver(center);
    grows.observe(document.body);
    const reader = ['wheel', 'touchstart', 'keydown'];
    const stop = () => {
      grows.disconnect();
      clearTimeout(settled);
      reader.forEach((kind) => removeEventListener(kind, stop));
    };
    const settled = setTimeout(stop, 3000);
    reader.forEach((kind) => addEventListener(kind, stop, { passive: true }));
    return stop;
  }, [hl, events.length > 0]);

  // Follow a session that is still being shipped, once everything before is loaded.
  useTopics(['timeline'], (e) => {
    const sid = d?.session.id;
    if (e && sid && next == null && (e.payload?.sessions || []).includes(sid)) more();
  });

  if (!d) return <Pending back={<Back href="/timeline">Timeline</Back>} err={err} />;

  const s = d.session;
  const t = s.tokens;
  // Bookkeeping records (queue operations, attachments, ...) stay out of the way unless asked for.
  const quiet = (e: TEvent) => e.kind === 'meta' && e.id !== hl;
  const hidden = events.filter(quiet).length;
  const shown = all ? events : events.filter((e) => !quiet(e));
  // A result names the tool of its call.
  const tools = new Map(events.filter((e) => e.kind === 'tool_call').map((e) => [e.tool_call_id, e.tool_name]));
  return (
    <section class="page" data-testid="session-page" data-session-id={s.id}>
      <Back href="/timeline">Timeline</Back>
      <header class="row nowrap">
        <Provider p={s.provider} full />
        {s.event_count > 0 && d.files.length > 0 && (
          <a class="btn small-btn end" href={`/api/timeline/sessions/${s.id}/export`} download data-testid="export">
            Export JSONL
          </a>
        )}
      </header>
      <h1>{sessionTitle(s)}</h1>
      {s.event_count === 0 && (
        <p class="muted" data-testid="empty-session">
          This session holds no events of its own
          {d.subagents.length ? `: its ${plural(d.subagents.length, 'subagent')} below hold the work.` : '.'}
        </p>
      )}
      {d.files.length > 1 && (
        <details class="files" data-testid="files">
          <summary>{d.files.length} files (the export above is the newest)</summary>
          <ul>
            {d.files.map((f) => (
              <li key={f.id}>
                <a href={`/api/timeline/sessions/${s.id}/export?file=${f.id}`} download data-testid="export-file">
                  {f.path.split('/').pop()}
                </a>{' '}
                <small class="muted">
                  {f.device} · {num(f.size)} bytes
                </small>
              </li>
            ))}
          </ul>
        </details>
      )}
      <dl class="facts">
        {s.project && <Fact k="Project" v={s.project} />}
        {s.device && <Fact k="Device" v={s.device} />}
        {s.git.branch && <Fact k="Branch" v={s.git.branch} />}
        {s.model && <Fact k="Model" v={s.model} />}
        <Fact k="Started" v={when(s.started_at)} />
        <Fact k="Ended" v={when(s.ended_at)} />
        <Fact k="Events" v={s.event_count} />
        <Fact k="Tokens in" v={num(t.input) + (t.cache_read ? ` (+${num(t.cache_read)} cached)` : '')} />
        <Fact k="Tokens out" v={num(t.output)} />
        {(s.cost_usd != null || s.cost_partial) && (
          <Fact
            k="Cost"
            v={
              (usd(s) || 'unknown') +
              (s.cost_partial ? ' (a model without a price: add it under [timeline.prices] in config.toml)' : '')
            }
          />
        )}
        {d.subagents.some((a) => a.cost_usd != null || a.cost_partial) && (
          <Fact k={`Cost with ${plural(d.subagents.length, 'subagent')}`} v={usd(withSubagents(s, d.subagents)) || 'unknown'} />
        )}
      </dl>
      {!d.parent && s.event_count > 0 && (s.provider === 'claude' || s.provider === 'codex') && <ContinueBox sid={s.id} />}
      {d.parent && (
        <p>
          Subagent of{' '}
          <a href={'/timeline/' + d.parent.id} onClick={linkClick}>
            {sessionTitle(d.parent)}
          </a>
        </p>
      )}
      {d.subagents.length > 0 && (
        <>
          <h2>Subagents</h2>
          <ul class="links">
            {d.subagents.map((a) => (
              <li key={a.id}>
                <a href={'/timeline/' + a.id} onClick={linkClick} data-testid="subagent">
                  {sessionTitle(a)}
                </a>{' '}
                <span class="muted small">
                  {plural(a.event_count, 'event')} · {num(a.tokens.output)} out
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
      <h2>Conversation</h2>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {hidden > 0 && (
        <button class="btn wide" aria-pressed={all} onClick={() => setAll(!all)} data-testid="toggle-meta">
          {all ? 'Hide' : 'Show'} {plural(hidden, 'bookkeeping record')}
        </button>
      )}
      <ol class="convo" data-testid="events">
        {shown.map((e) => (
          <Ev key={e.id} e={e} hl={e.id === hl} tool={(e.tool_call_id && tools.get(e.tool_call_id)) || ''} />
        ))}
      </ol>
      {next != null && (
        <button class="btn wide" disabled={busy} onClick={() => more()} data-testid="load-more">
          {busy ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}



const short = (t: string, n = 90) => {
  t = t.replace(/\s+/g, ' ').trim();
  return t.length > n ? t.slice(0, n - 1) + '…' : t;
};

/** One event. Messages show open; thinking, tools and the rest are <details>, closed. */
function Ev({ e, hl, tool }: { e: TEvent; hl: boolean; tool: string }) {
  const common = {
    id: 'event-' + e.id,
    tabIndex: -1,
    'data-testid': 'event',
    'data-event-id': e.id,
    'data-kind': e.kind,
    'data-highlighted': hl ? 'true' : undefined,
  };
  const cls = (c: string) => c + (hl ? ' hl' : '');
  const time = e.timestamp && <time dateTime={e.timestamp}>{when(e.timestamp)}</time>;
  if (e.kind === 'message' && e.text)
    return (
      <li {...common} class={cls('msg ' + (e.role === 'user' ? 'user' : 'asst'))}>
        <small>
          {e.role || 'message'} {time}
        </small>
        {e.html ? <Markdown html={e.html} cls="text" /> : <div class="text">{e.text}</div>}
      </li>
    );
  let title: string;
  let body: string;
  if (e.kind === 'tool_call') {
    title = '⚙ ' + (e.tool_name || 'tool') + ' ' + short(e.tool_input || e.text, 70);
    body = prettyJson(e.tool_input) || e.text;
  } else if (e.kind === 'tool_result') {
    title = '↳ ' + (e.tool_name || tool || 'result') + ': ' + short(e.tool_output || e.text, 70);
    body = e.tool_output || e.text;
  } else if (e.kind === 'thinking') {
    title = 'Thinking ' + short(e.text, 60);
    body = e.text;
  } else {
    title = (e.record_type || e.kind) + ' ' + short(e.text || e.tool_output, 70);
    body = e.text || e.tool_output || e.tool_input;
  }
  return (
    <li class={cls('ev k-' + e.kind)}>
      <details {...common} open={hl || undefined}>
        <summary>{title}</summary>
        <pre class="block">{body || '(empty)'}</pre>
        {time && <small>{time}</small>}
      </details>
    </li>
  );
}

function prettyJson(t: string): string {
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return t;
  }
}

// ---- "Continue on server": a commis job that resumes this session (/api/migrate) ----

type Migration = Continuations;

function ContinueBox({ sid }: { sid: number }) {
  const [m, setM] = useState<Migration | null>(null);
  const [open, setOpen] = useState(false);
  const [prompt, setPrompt] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const backends = useBackends();
  const load = () =>
    api<Migration>(`/migrate/sessions/${sid}`)
      .then(setM)
      .catch((e) => setErr(errorText(e)));
  useEffect(() => {
    load();
  }, [sid]);
  useTopics(['commis'], (e) => {
    if (e && m && m.jobs.some((j) => j.id === e.payload?.job)) load();
  });
  if (!m || !m.can_continue) return err ? <p class="error">{err}</p> : null;

  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setErr('');
    try {
      await api(`/migrate/sessions/${sid}/continue`, { method: 'POST', body: { prompt } });
      setOpen(false);
      setPrompt('');
      await load();
    } catch (x) {
      setErr(errorText(x));
    } finally {
      setBusy(false);
    }
  };
  const past = m.jobs.filter((j) => j.id !== m.active?.id);
  // the session's own CLI must be on the server's PATH: offered disabled, with why and the fix
  const off = (backends || []).find((b) => b.name === m.session.provider && !b.available);
  return (
    <div class="card stack" data-testid="continue">
      {m.active ? (
        <p data-testid="continue-active">
          Continuing on the server:{' '}
          <a href={'/commis/' + m.active.id} onClick={linkClick} data-testid="continue-job">
            job #{m.active.id}
          </a>{' '}
          <StatusBadge s={m.active.status} />
        </p>
      ) : open ? (
        <form class="stack" onSubmit={submit}>
          <label>
            What next?
            <textarea
              rows={3}
              value={prompt}
              onInput={(e) => setPrompt(e.currentTarget.value)}
              placeholder="Continue where it left off (default)"
              data-testid="continue-prompt"
            />
          </label>
          {m.patch && (
            <small class="muted">
              With the uncommitted changes from {m.patch.device} ({num(m.patch.size)} bytes, {when(m.patch.updated_at)})
            </small>
          )}
          <div class="row">
            <button class="btn primary" type="submit" disabled={busy} data-testid="continue-start">
              {busy ? 'Starting…' : 'Start'}
            </button>
            <button class="btn" type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <>
          <button class="btn primary wide" disabled={!!off} onClick={() => setOpen(true)} data-testid="continue-open">
            Continue on server
          </button>
          {off && (
            <p class="small muted" data-testid="continue-unavailable">
              <Unavailable b={off} />
            </p>
          )}
        </>
      )}
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {past.length > 0 && (
        <ul class="links">
          {past.map((j) => (
            <li key={j.id}>
              <a href={'/commis/' + j.id} onClick={linkClick}>
                job #{j.id}
              </a>{' '}
              <StatusBadge s={j.status} /> <span class="muted small">{j.task.slice(0, 80)}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
