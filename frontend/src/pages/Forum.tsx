// Forum: boards (/forum), a board's threads (/forum/<board>), one thread (/forum/t/<id>), search.
// Post HTML comes rendered and sanitized from the server (forum/markdown.py).
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  api, errorText, qs, ago, when,
  type FBoard, type FClaim, type FFollowup, type FPost, type FSearchHit, type FThread,
} from '../api';
import { useTopics } from '../events';
import { linkClick, navigate, usePath } from '../router';
import { Back, Loading, Pending } from './parts';
import { plural } from '../plural';

export function Forum() {
  const path = usePath();
  const t = path.match(/^\/forum\/t\/(\d+)$/);
  const b = path.match(/^\/forum\/([a-z0-9-]+)$/);
  return t ? <ThreadPage key={t[1]} id={+t[1]} /> : b ? <BoardPage key={b[1]} slug={b[1]} /> : <Boards />;
}

/** Same-origin links inside post HTML open in the app (API links, like a diff, load normally). */
function htmlClick(e: MouseEvent) {
  const a = (e.target as HTMLElement).closest('a');
  if (!a || a.origin !== location.origin || /^\/(api|admin)\//.test(a.pathname)) return;
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.pathname + a.search + a.hash);
}

function Unread({ n }: { n: number }) {
  return n ? (
    <span class="badge unread" data-testid="unread" aria-label={n + ' unread'}>
      {n}
    </span>
  ) : null;
}

function Err({ err }: { err: string }) {
  return err ? (
    <p class="error" role="alert">
      {err}
    </p>
  ) : null;
}

function Boards() {
  const [boards, setBoards] = useState<FBoard[] | null>(null);
  const [claims, setClaims] = useState<FClaim[]>([]);
  const [err, setErr] = useState('');
  const load = () => {
    api<{ boards: FBoard[] }>('/forum/boards').then((r) => (setBoards(r.boards), setErr('')), (e) => setErr(errorText(e)));
    api<{ claims: FClaim[] }>('/forum/claims').then((r) => setClaims(r.claims), () => {});
  };
  useEffect(load, []);
  useTopics(['forum'], load);
  return (
    <section class="page" data-testid="forum">
      <h1>Forum</h1>
      <Search />
      <Err err={err} />
      {!boards && !err && <Loading />}
      {boards && !boards.length && <p class="muted">No boards yet: every commis job opens a thread in “Commis”.</p>}
      <ul class="list" data-testid="boards">
        {(boards || []).map((b) => (
          <li key={b.slug}>
            <a href={'/forum/' + b.slug} onClick={linkClick} class="item" data-testid="board-row" data-board={b.slug}>
              <span class="row nowrap">
                <b class="clamp1">{b.name}</b>
                <Unread n={b.unread} />
                <span class="end muted tabular">{plural(b.threads, 'thread')}</span>
              </span>
              {b.description && <small>{b.description}</small>}
            </a>
          </li>
        ))}
      </ul>
      <NewThread board="general" label="New thread in General" />
      {claims.length > 0 && (
        <>
          <h2>Claims</h2>
          <ul class="list" data-testid="claims">
            {claims.map((c) => (
              <li key={c.resource} class="item">
                <code class="clamp1">{c.resource}</code>
                <small>
                  {c.holder} · {ago(c.created_at)}
                  {c.note ? ' · ' + c.note : ''}
                </small>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function Search() {
  const [q, setQ] = useState('');
  const [hits, setHits] = useState<FSearchHit[] | null>(null);
  const [err, setErr] = useState('');
  const go = (e: Event) => {
    e.preventDefault();
    if (!q.trim()) return setHits(null);
    api<{ hits: FSearchHit[] }>('/forum/search' + qs({ q })).then((r) => (setHits(r.hits), setErr('')), (x) => setErr(errorText(x)));
  };
  return (
    <>
      <form class="row search" role="search" onSubmit={go}>
        <label>
          <span class="sr">Search posts</span>
          <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="Search posts" data-testid="forum-q" />
        </label>
        <button class="btn" type="submit">
          Search
        </button>
      </form>
      <Err err={err} />
      {hits && (
        <ul class="list stack" data-testid="forum-hits">
          {!hits.length && <li class="muted">Nothing found.</li>}
          {hits.map((h) => (
            <li key={h.post}>
              <a href={`/forum/t/${h.thread}#post-${h.post}`} onClick={linkClick} class="item" data-testid="forum-hit">
                <b class="clamp1">{h.title}</b>
                <span class="snip" dangerouslySetInnerHTML={{ __html: h.snippet }} />
                <small>
                  {h.board} · {h.author} · {ago(h.created_at)}
                </small>
              </a>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function BoardPage({ slug }: { slug: string }) {
  const [data, setData] = useState<{ board: FBoard; threads: FThread[]; has_more: boolean } | null>(null);
  const [limit, setLimit] = useState(30);
  const [err, setErr] = useState('');
  const load = () =>
    api<typeof data>(`/forum/boards/${slug}` + qs({ limit })).then((r) => (setData(r), setErr('')), (e) => setErr(errorText(e)));
  useEffect(() => void load(), [slug, limit]);
  useEffect(() => void (document.title = (data?.board.name || 'Forum') + ' · Zerg'), [data]);
  useTopics(['forum'], (e) => (!e || e.payload?.board === slug) && load());
  if (!data) return <Pending back={<Back href="/forum">Forum</Back>} err={err} />;
  return (
    <section class="page" data-testid="forum-board" data-board={slug}>
      <Back href="/forum">Forum</Back>
      <h1>{data.board.name}</h1>
      <Err err={err} />
      {!data.threads.length && <p class="muted">No threads yet.</p>}
      <ul class="list" data-testid="threads">
        {data.threads.map((t) => (
          <li key={t.id}>
            <a href={'/forum/t/' + t.id} onClick={linkClick} class="item" data-testid="thread-row" data-thread-id={t.id} data-job={t.job ?? ''}>
              <span class="row nowrap">
                <b class="clamp1">{t.title}</b>
                <Unread n={t.unread} />
              </span>
              <small>
                {plural(t.post_count, 'post')} · {ago(t.last_post_at)}
              </small>
            </a>
          </li>
        ))}
      </ul>
      {data.has_more && (
        <button class="btn wide" onClick={() => setLimit(limit + 30)}>
          Show older threads
        </button>
      )}
      <NewThread board={slug} label="New thread" />
    </section>
  );
}

function NewThread({ board, label }: { board: string; label: string }) {
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState('');
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    try {
      const t = await api<FThread>(`/forum/boards/${board}/threads`, { method: 'POST', body: { title, text } });
      navigate('/forum/t/' + t.id);
    } catch (x) {
      setErr(errorText(x));
      setBusy(false);
    }
  };
  if (!open)
    return (
      <button class="btn wide" onClick={() => setOpen(true)} data-testid="new-thread">
        {label}
      </button>
    );
  return (
    <form class="card stack wide" onSubmit={submit} data-testid="thread-form">
      <label>
        Title
        <input required value={title} onInput={(e) => setTitle(e.currentTarget.value)} data-testid="thread-title" />
      </label>
      <label>
        Post (Markdown)
        <textarea required rows={4} value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="thread-text" />
      </label>
      <Err err={err} />
      <div class="row">
        <button class="btn primary" type="submit" disabled={busy || !title.trim() || !text.trim()}>
          {busy ? 'Posting…' : 'Post'}
        </button>
        <button class="btn" type="button" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

const WHO: Record<string, string> = { owner: 'You', oikos: 'Oikos', system: 'Zerg' };

function PostView({ p, unread }: { p: FPost; unread: boolean }) {
  return (
    <li id={'post-' + p.id} class={'msg post a-' + p.author_kind + (unread ? ' new' : '')} data-testid="post" data-author={p.author}>
      <small class="row">
        {p.author_kind === 'commis' && p.author_ref ? (
          <a href={'/commis/' + p.author_ref} onClick={linkClick}>
            commis #{p.author_ref}
          </a>
        ) : (
          <b>{WHO[p.author_kind] || p.author}</b>
        )}
        <time class="end" dateTime={p.created_at} title={when(p.created_at)}>
          {ago(p.created_at)}
        </time>
      </small>
      <div class="md" ref={focusScrollers} dangerouslySetInnerHTML={{ __html: p.html }} />
    </li>
  );
}

function ThreadPage({ id }: { id: number }) {
  const [t, setT] = useState<FThread | null>(null);
  const [err, setErr] = useState('');
  const readFrom = useRef<number | null>(null); // the marker when the page opened: posts after it are "new"
  const load = () =>
    api<FThread>(`/forum/threads/${id}?limit=200`).then(
      (r) => {
        if (readFrom.current === null) readFrom.current = r.read_upto;
        setT(r);
        setErr('');
        const last = r.posts?.length ? r.posts[r.posts.length - 1].id : 0;
        if (last > r.read_upto) api(`/forum/threads/${id}/read`, { method: 'POST', body: { upto: last } }).catch(() => {});
      },
      (e) => setErr(errorText(e)),
    );
  useEffect(() => void load(), [id]);
  useEffect(() => void (document.title = (t?.title || 'Thread') + ' · Zerg'), [t?.title]);
  // a link to one post (a search hit): scroll to it once the posts are there
  const jumped = useRef(false);
  useEffect(() => {
    if (!t || jumped.current || !location.hash.startsWith('#post-')) return;
    jumped.current = true;
    document.getElementById(location.hash.slice(1))?.scrollIntoView({ block: 'center' });
  }, [t]);
  useTopics(['forum:' + id], () => load());
  if (!t) return <Pending back={<Back href="/forum">Forum</Back>} err={err} />;
  return (
    <section class="page" data-testid="forum-thread" data-thread-id={id}>
      <Back href={'/forum/' + t.board}>{t.board === 'commis' ? 'Commis threads' : 'Threads'}</Back>
      <h1>{t.title}</h1>
      {t.job && (
        <p>
          <a href={'/commis/' + t.job} onClick={linkClick} class="small-btn" data-testid="thread-job">
            Job #{t.job} →
          </a>
        </p>
      )}
      <Err err={err} />
      {t.has_more && <p class="muted">Older posts are not shown.</p>}
      <ul class="convo" data-testid="posts" onClick={htmlClick}>
        {(t.posts || []).map((p) => (
          <PostView key={p.id} p={p} unread={p.author_kind !== 'owner' && p.id > (readFrom.current ?? 0)} />
        ))}
      </ul>
      <Reply id={id} job={t.job} onPosted={load} />
    </section>
  );
}

function Reply({ id, job, onPosted }: { id: number; job: number | null; onPosted: () => void }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const [started, setStarted] = useState<FFollowup[]>([]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    try {
      const r = await api<FPost & { followups: FFollowup[] }>(`/forum/threads/${id}/posts`, { method: 'POST', body: { text } });
      setText('');
      setStarted(r.followups || []);
      onPosted();
    } catch (x) {
      setErr(errorText(x));
    }
    setBusy(false);
  };
  return (
    <form class="card stack reply" onSubmit={submit} data-testid="reply-form">
      {started.map((f) =>
        f.followup ? (
          <p key={f.job} class="ok" role="status">
            Started{' '}
            <a href={'/commis/' + f.followup} onClick={linkClick} data-testid="followup-link" data-job-id={f.followup}>
              follow-up commis #{f.followup}
            </a>{' '}
            of #{f.job}
            {f.thread ? (
              <>
                {' · '}
                <a href={'/forum/t/' + f.thread} onClick={linkClick}>
                  its thread
                </a>
              </>
            ) : null}
          </p>
        ) : (
          <p key={f.job} class="error" role="alert">
            No follow-up of #{f.job}: {f.error}
          </p>
        ),
      )}
      <label>
        Reply (Markdown; @commis-N continues that job, @oikos asks Oikos)
        <textarea
          required
          rows={3}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          placeholder={job ? 'Reply to continue this job with a follow-up commis' : 'Write a reply'}
          data-testid="reply-text"
        />
      </label>
      <Err err={err} />
      <button class="btn primary" type="submit" disabled={busy || !text.trim()} data-testid="reply-submit">
        {busy ? 'Posting…' : 'Post reply'}
      </button>
    </form>
  );
}

/** Code blocks and tables scroll sideways inside a post: keyboard users must reach them too. */
function focusScrollers(el: HTMLElement | null): void {
  el?.querySelectorAll('pre, table').forEach((n) => n.setAttribute('tabindex', '0'));
}
