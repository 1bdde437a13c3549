// Timeline: the session archive (list, filters, search) and one session (/timeline/<id>).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText, qs, ago, num, usd, type EventHit, type TSession } from '../api';
import { useTopics } from '../events';
import { linkClick, navigate, usePath } from '../router';
import { SessionPage } from './Session';
import { plural } from '../plural';
import './timeline.css';
import { Loading } from './parts';

const PROVIDERS: Record<string, [string, string]> = {
  claude: ['Claude Code', 'C'],
  codex: ['Codex', 'X'],
  gemini: ['Gemini CLI', 'G'],
  'zerg-agent': ['Zerg agent', 'Z'],
};

export function Provider({ p, full }: { p: string; full?: boolean }) {
  const [label, letter] = PROVIDERS[p] || [p, (p[0] || '?').toUpperCase()];
  return (
    <span class="prov" title={label}>
      <i class={'pi p-' + p} aria-hidden="true">
        {letter}
      </i>
      <span class={full ? undefined : 'sr'}>{label}</span>
    </span>
  );
}

/** What a person knows a session by: its first prompt or the CLI's title, else its project and day;
 * never its UUID. */
export function sessionTitle(s: { title: string; project: string; started_at: string | null }): string {
  if (s.title) return s.title;
  const day = s.started_at ? new Date(s.started_at).toLocaleDateString() : '';
  return 'Untitled session' + (s.project || day ? ' · ' + [s.project, day].filter(Boolean).join(', ') : '');
}

export function Timeline() {
  const path = usePath();
  const m = path.match(/^\/timeline\/([^/]+)$/);
  return m ? <SessionPage key={m[1]} id={decodeURIComponent(m[1])} /> : <Archive />;
}

type Hit = EventHit;

type Params = {
  q: string;
  provider: string;
  project: string;
  device: string;
  branch: string;
  from: string; // YYYY-MM-DD, inclusive
  to: string; // YYYY-MM-DD, inclusive
  role: string; // search only
  tool: string; // search only
  sort: string; // search only: '' (relevance) or 'recency'
  empty: string; // list only: '1' also lists the sessions that hold no events of their own
};
const KEYS: (keyof Params)[] = ['q', 'provider', 'project', 'device', 'branch', 'from', 'to', 'role', 'tool', 'sort', 'empty'];
const ROLES = ['user', 'assistant', 'system', 'tool'];

function readParams(): Params {
  const u = new URLSearchParams(location.search);
  const p = {} as Params;
  KEYS.forEach((k) => (p[k] = u.get(k) || ''));
  return p;
}

/** The filters that narrow the list (and a search), as the API names them. */
function apiFilters(p: Params) {
  return {
    provider: p.provider,
    project: p.project,
    device: p.device,
    branch: p.branch,
    since: localMidnight(p.from, 0),
    until: localMidnight(p.to, 1), // "To" is inclusive for a person; the API's ``until`` is exclusive
  };
}

/** The instant a day (YYYY-MM-DD, as the date picker gives it) starts on this device, plus ``days``. */
function localMidnight(day: string, days: number): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return '';
  const d = new Date(+m[1], +m[2] - 1, +m[3] + days);
  return isNaN(d.getTime()) ? '' : d.toISOString();
}

const SEARCH_ONLY: (keyof Params)[] = ['role', 'tool', 'sort'];
/** Whether any filter applies (role, tool and sort only to a search; empty only to the list). */
const filtering = (p: Params) =>
  KEYS.some((k) => k !== 'q' && p[k] && (p.q ? k !== 'empty' : !SEARCH_ONLY.includes(k)));

/**
 * A search snippet as Preact nodes. The server escapes the text and wraps matches in
 * <mark>…</mark>; only those two tags become elements, everything else stays text.
 */
const ENT: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#x27': "'", '#39': "'" };
export function Snippet({ html }: { html: string }) {
  let on = false;
  const out: any[] = [];
  html.split(/(<\/?mark>)/).forEach((part, i) => {
    if (part === '<mark>') on = true;
    else if (part === '</mark>') on = false;
    else if (part) {
      const t = part.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (_, e) => ENT[e]);
      out.push(on ? <mark key={i}>{t}</mark> : t);
    }
  });
  return <>{out}</>;
}

function Archive() {
  const path = usePath(); // re-render on navigation (back/forward restore the query)
  const p = readParams();
  const [open, setOpen] = useState(filtering(p));
  const [q, setQ] = useState(p.q);
  const key = location.search;

  const set = (patch: Partial<Params>) => navigate(path + qs({ ...readParams(), ...patch }), true);

  useEffect(() => setQ(p.q), [p.q]);
  useEffect(() => {
    document.title = 'Timeline · Zerg';
  }, []);

  return (
    <section class="page" data-testid="timeline">
      <header class="row">
        <h1>Timeline</h1>
        <button
          class="btn"
          type="button"
          aria-expanded={open}
          aria-controls="tl-filters"
          onClick={() => setOpen(!open)}
          data-testid="filters-toggle"
        >
          Filters{filtering(p) ? ' •' : ''}
        </button>
      </header>
      <form
        class="row search"
        role="search"
        onSubmit={(e) => (e.preventDefault(), navigate(path + qs({ ...readParams(), q: q.trim() })))}
      >
        <label class="grow">
          <span class="sr">Search all sessions</span>
          <input
            type="search"
            value={q}
            onInput={(e) => setQ(e.currentTarget.value)}
            placeholder="Search all sessions"
            data-testid="search-input"
          />
        </label>
        <button class="btn primary" type="submit" data-testid="search-submit">
          Search
        </button>
      </form>
      <div id="tl-filters" class="row filters" hidden={!open}>
        <label class="grow">
          Provider
          <select value={p.provider} onChange={(e) => set({ provider: e.currentTarget.value })}>
            <option value="">All</option>
            {Object.keys(PROVIDERS).map((k) => (
              <option key={k} value={k}>
                {PROVIDERS[k][0]}
              </option>
            ))}
          </select>
        </label>
        <Filter label="Project" value={p.project} onSet={(v) => set({ project: v })} />
        <Filter label="Device" value={p.device} onSet={(v) => set({ device: v })} />
        <Filter label="Branch" value={p.branch} onSet={(v) => set({ branch: v })} />
        <label class="grow">
          From
          <input type="date" value={p.from} max={p.to || undefined} data-testid="filter-from"
            onChange={(e) => set({ from: e.currentTarget.value })} />
        </label>
        <label class="grow">
          To
          <input type="date" value={p.to} min={p.from || undefined} data-testid="filter-to"
            onChange={(e) => set({ to: e.currentTarget.value })} />
        </label>
        {p.q && (
          <>
            <label class="grow">
              Role
              <select value={p.role} onChange={(e) => set({ role: e.currentTarget.value })} data-testid="filter-role">
                <option value="">Any</option>
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {r[0].toUpperCase() + r.slice(1)}
                  </option>
                ))}
              </select>
            </label>
            <Filter label="Tool" value={p.tool} onSet={(v) => set({ tool: v })} />
            <label class="grow">
              Sort
              <select value={p.sort} onChange={(e) => set({ sort: e.currentTarget.value })} data-testid="filter-sort">
                <option value="">Best match</option>
                <option value="recency">Newest first</option>
              </select>
            </label>
          </>
        )}
        {!p.q && (
          <label class="row nowrap">
            <input type="checkbox" checked={!!p.empty} data-testid="filter-empty"
              onChange={(e) => set({ empty: e.currentTarget.checked ? '1' : '' })} />
            Sessions with no events of their own
          </label>
        )}
        {filtering(p) && (
          <button class="btn" type="button" data-testid="filters-clear"
            onClick={() => navigate(path + qs({ q: p.q }), true)}>
            Clear filters
          </button>
        )}
      </div>
      {p.q ? <Results key={key} p={p} /> : <Sessions key={key} p={p} />}
    </section>
  );
}

function Filter({ label, value, onSet }: { label: string; value: string; onSet: (v: string) => void }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  return (
    <label class="grow">
      {label}
      <input
        value={v}
        onInput={(e) => setV(e.currentTarget.value)}
        onChange={(e) => onSet(e.currentTarget.value.trim())}
        placeholder="any"
      />
    </label>
  );
}

function Sessions({ p }: { p: Params }) {
  const path = usePath();
  const [rows, setRows] = useState<TSession[] | null>(null);
  const [total, setTotal] = useState(0);
  const [hiddenEmpty, setHiddenEmpty] = useState(0);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const soon = useRef(0);
  const count = useRef(0);

  const load = (offset: number, limit = 50) => {
    setBusy(true);
    api<{ sessions: TSession[]; total: number; hidden_empty: number }>(
      '/timeline/sessions' + qs({ ...apiFilters(p), empty: p.empty ? 'true' : '', limit, offset }),
    )
      .then((r) => {
        setRows((old) => {
          const all = offset ? [...(old || []), ...r.sessions] : r.sessions;
          count.current = all.length;
          return all;
        });
        setTotal(r.total);
        setHiddenEmpty(r.hidden_empty);
        setErr('');
      }, (e) => setErr(errorText(e)))
      .finally(() => setBusy(false));
  };
  useEffect(() => {
    load(0);
    return () => clearTimeout(soon.current);
  }, []);
  // New sessions shipped: refresh what is on screen.
  useTopics(['timeline'], () => {
    clearTimeout(soon.current);
    soon.current = setTimeout(() => load(0, Math.min(200, Math.max(50, count.current))), 500) as unknown as number;
  });

  return (
    <>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {!rows && !err && <Loading />}
      {rows && (rows.length > 0 || hiddenEmpty > 0) && (
        <p class="small muted" role="status" data-testid="result-count">
          {plural(total, 'session')}
          {filtering(p) ? ' match' + (total === 1 ? 'es' : '') + ' these filters' : ''}
          {hiddenEmpty > 0 && (
            <>
              {' · '}
              <a href={path + qs({ ...p, empty: '1' })} onClick={linkClick} data-testid="show-empty">
                {plural(hiddenEmpty, 'empty session')} hidden: show
              </a>
            </>
          )}
        </p>
      )}
      {rows && !rows.length && !filtering(p) && (
        <p class="muted">No sessions yet. Ship some with <code>zerg ship</code>.</p>
      )}
      {rows && !rows.length && filtering(p) && <p class="muted">No session matches these filters.</p>}
      <ul class="list" data-testid="sessions">
        {(rows || []).map((s) => (
          <li key={s.id}>
            <a href={'/timeline/' + s.id} onClick={linkClick} class="item" data-testid="session-row">
              <span class="row nowrap">
                <Provider p={s.provider} />
                <b class="clamp2" data-testid="session-title">{sessionTitle(s)}</b>
              </span>
              <small>
                {[s.project, s.device, s.git.branch && '⎇ ' + s.git.branch].filter(Boolean).join(' · ')}
              </small>
              <small>
                {ago(s.started_at)} · {s.event_count ? plural(s.event_count, 'event') : 'no events of its own'} ·{' '}
                {num(s.tokens.input + s.tokens.cache_read)} in / {num(s.tokens.output)} out
                {usd(s) ? ' · ' + usd(s) : ''}
                {s.subagent_count ? ' · ' + plural(s.subagent_count, 'subagent') : ''}
              </small>
            </a>
          </li>
        ))}
      </ul>
      {rows && rows.length < total && (
        <button class="btn wide" disabled={busy} onClick={() => load(rows.length)}>
          {busy ? 'Loading…' : `Load more (${total - rows.length})`}
        </button>
      )}
    </>
  );
}

function Results({ p }: { p: Params }) {
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [more, setMore] = useState(false);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const load = (offset: number) => {
    setBusy(true);
    const search = { q: p.q, ...apiFilters(p), role: p.role, tool: p.tool, sort: p.sort, limit: 20, offset };
    api<{ hits: Hit[]; has_more: boolean }>('/timeline/search' + qs(search))
      .then((r) => {
        setHits((old) => (offset ? [...(old || []), ...r.hits] : r.hits));
        setMore(r.has_more);
        setErr('');
      }, (e) => setErr(errorText(e)))
      .finally(() => setBusy(false));
  };
  useEffect(() => load(0), []);
  return (
    <>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {!hits && !err && <p class="muted">Searching…</p>}
      {hits && !hits.length && <p class="muted">Nothing matches “{p.q}”.</p>}
      {hits && hits.length > 0 && (
        <p class="small muted" role="status" data-testid="result-count">
          {more ? 'More than ' + plural(hits.length, 'result') + ': the best first' : plural(hits.length, 'result')}
        </p>
      )}
      <ul class="list" data-testid="hits">
        {(hits || []).map((h) => (
          <li key={h.event_id}>
            <a
              href={`/timeline/${h.session_id}#event-${h.event_id}`}
              onClick={linkClick}
              class="item"
              data-testid="hit"
              data-event-id={h.event_id}
            >
              <span class="row nowrap">
                <Provider p={h.session.provider} />
                <b class="clamp1">{h.session.title || 'Untitled session' + (h.session.project ? ' · ' + h.session.project : '')}</b>
              </span>
              <span class="snip" data-testid="snippet">
                <Snippet html={h.snippet} />
              </span>
              <small>
                {[h.role || h.kind, h.tool_name, h.session.project, ago(h.timestamp)].filter(Boolean).join(' · ')}
              </small>
            </a>
          </li>
        ))}
      </ul>
      {more && (
        <button class="btn wide" disabled={busy} onClick={() => load(hits!.length)}>
          {busy ? 'Loading…' : 'More results'}
        </button>
      )}
    </>
  );
}
