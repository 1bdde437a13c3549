// One commis job: details, live log, diff, Cancel / Retry.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, apiRaw, errorText, dur, when, num, type Job, type ZergEvent } from '../api';
import { useTopics } from '../events';
import { Back, Fact, Pending } from './parts';
import { linkClick, navigate } from '../router';
import { StatusBadge, elapsed, useTick } from './Commis';

const KEEP = 300000; // characters of log kept on screen (the full log is a link away)

export function JobPage({ id }: { id: number }) {
  const [job, setJob] = useState<Job | null>(null);
  const [at, setAt] = useState(0);
  const [err, setErr] = useState('');
  const [diffKey, setDiffKey] = useState(0);
  const seen = useRef('');
  const log = useLog(id);
  const [raw, setRaw] = useState(false);

  const load = () =>
    api<Job>('/commis/jobs/' + id).then(
      (j) => {
        if (seen.current && seen.current !== j.status) setDiffKey((k) => k + 1);
        seen.current = j.status;
        setJob(j);
        setAt(Date.now());
        setErr('');
      },
      (e) => setErr(errorText(e)),
    );

  useEffect(() => {
    load();
    document.title = `Job #${id} · Zerg`;
  }, [id]);

  const active = !!job && (job.status === 'queued' || job.status === 'running');
  useTopics(['commis:' + id], (e) => {
    if (!e || e.kind === 'commis.status') load();
    log.more();
  });
  // A safety net when events are late or the stream is down.
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => (load(), log.more()), 5000);
    return () => clearInterval(t);
  }, [active]);
  useTick(job?.status === 'running');

  if (!job) return <Pending back={<Back href="/commis">All jobs</Back>} err={err} />;

  const agent = job.backend !== 'shell';
  const u = (job.usage || {}) as Record<string, number>;
  const tokens = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'].filter(
    (k) => u[k],
  );
  return (
    <section class="page" data-testid="job-page" data-job-id={id}>
      <Back href="/commis">All jobs</Back>
      <header class="row">
        <h1>Job #{job.id}</h1>
        <StatusBadge s={job.status} />
      </header>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      <Actions job={job} onChange={(j) => (setJob(j), setAt(Date.now()))} />
      <Why job={job} log={log.text} />
      <pre class="block task" data-testid="job-task">
        {job.task}
      </pre>
      <dl class="facts">
        <Fact k="Backend" v={job.backend} />
        <Fact k="Attempts" v={`${job.attempts} / ${job.max_attempts}`} />
        <Fact k="Elapsed" v={dur(elapsed(job, at))} />
        <Fact k="Exit code" v={job.exit_code ?? '–'} />
        <Fact k="Created" v={when(job.created_at)} />
        <Fact k="Started" v={when(job.started_at)} />
        <Fact k="Finished" v={when(job.finished_at)} />
        {job.worker && <Fact k="Worker" v={job.worker} />}
        {job.repo_url && <Fact k="Repository" v={job.repo_url + (job.branch ? ' @ ' + job.branch : '')} />}
        {job.timeout && <Fact k="Timeout" v={dur(job.timeout)} />}
        {job.origin && <Fact k="Origin" v={job.origin} />}
        {tokens.map((k) => (
          <Fact key={k} k={k.replace(/_/g, ' ').replace(' input', '')} v={num(u[k])} />
        ))}
        {job.cost_usd != null && <Fact k="Cost" v={'$' + job.cost_usd.toFixed(4)} />}
        {job.session_id && (
          <Fact
            k="Session"
            v={
              job.timeline_session ? (
                <a href={'/timeline/' + job.timeline_session} onClick={linkClick} data-testid="job-session">
                  {job.session_id} in the Timeline
                </a>
              ) : (
                <span data-testid="job-session">{job.session_id} (not in the Timeline yet)</span>
              )
            }
          />
        )}
      </dl>
      {job.summary && (!failed(job) || job.summary.split('\n').filter((l) => l.trim()).length > WHY_LINES) && (
        <>
          <h2>Summary</h2>
          <pre class="block" data-testid="job-summary">
            {job.summary}
          </pre>
        </>
      )}
      <h2 class="row">
        {agent ? (
          <span class="seg" role="group" aria-label="Output view">
            <button class="btn" aria-pressed={!raw} onClick={() => setRaw(false)} data-testid="view-activity">
              Activity
            </button>
            <button class="btn" aria-pressed={raw} onClick={() => setRaw(true)} data-testid="view-log">
              Raw log
            </button>
          </span>
        ) : (
          'Log'
        )}
        <a class="small end tap" href={`/api/commis/jobs/${id}/log`} target="_blank" rel="noopener">
          full log
        </a>
      </h2>
      {agent && !raw && <Activity id={id} />}
      {log.err && <p class="error">{log.err}</p>}
      <pre class="block log" hidden={agent && !raw} ref={log.ref} onScroll={log.onScroll} data-testid="job-log">
        {log.cut ? '… (earlier output cut; open the full log)\n' : ''}
        {log.text || (active ? 'Waiting for output…' : '(no output)')}
      </pre>
      <Diff id={id} key={diffKey} />
    </section>
  );
}



const failed = (job: Job) => job.status === 'failed' || job.status === 'timed_out';
const WHY_LINES = 8;

/**
 * Why a job ended badly, where the owner looks first: the first lines of its summary (the
 * error a backend or the runner gave), else the log's lines that read like an error, else its
 * last lines. A cancelled job says so, with who or what stopped it.
 */
function Why({ job, log }: { job: Job; log: string }) {
  if (job.status === 'cancelled')
    return (
      <p class="card" data-testid="job-cancelled">
        This job was cancelled{job.finished_at ? ` (${when(job.finished_at)})` : ''}.
        {job.summary && job.summary !== 'cancelled' && (
          <>
            <br />
            <small class="muted">{job.summary}</small>
          </>
        )}
      </p>
    );
  if (!failed(job)) return null;
  const lines = (job.summary || '').split('\n').filter((l) => l.trim());
  let shown = lines.slice(0, WHY_LINES);
  if (!shown.length) {
    const logLines = log.split('\n').filter((l) => l.trim() && !l.startsWith('=== zerg:'));
    const errors = logLines.filter((l) => /error|fail|traceback|not found|denied|refused|cannot/i.test(l));
    shown = (errors.length ? errors : logLines.slice(-WHY_LINES)).slice(0, WHY_LINES);
  }
  return (
    <div class="error" role="alert" data-testid="job-error">
      <h2>{job.status === 'timed_out' ? 'Why it timed out' : 'Why it failed'}</h2>
      {shown.length ? (
        <pre class="block">{shown.join('\n') + (lines.length > WHY_LINES ? '\n…' : '')}</pre>
      ) : (
        <p class="muted">It left no error message: see the log below.</p>
      )}
    </div>
  );
}

/**
 * The job's log: GET …/log?offset= from where the last read ended, each time an event
 * says there is more. Reads never overlap, so nothing is doubled or skipped.
 */
function useLog(id: number) {
  const [text, setText] = useState('');
  const [cut, setCut] = useState(false);
  const [err, setErr] = useState('');
  const ref = useRef<HTMLPreElement>(null);
  const st = useRef({ offset: 0, busy: false, again: false, stick: true, dec: new TextDecoder() });

  const more = async () => {
    const s = st.current;
    if (s.busy) {
      s.again = true;
      return;
    }
    s.busy = true;
    try {
      do {
        s.again = false;
        const r = await apiRaw(`/commis/jobs/${id}/log?offset=${s.offset}`);
        const buf = await r.arrayBuffer();
        const next = parseInt(r.headers.get('X-Log-Offset') || '', 10);
        s.offset = isNaN(next) ? s.offset + buf.byteLength : next;
        const chunk = s.dec.decode(buf, { stream: true });
        if (chunk)
          setText((t) => {
            t += chunk;
            if (t.length <= KEEP) return t;
            setCut(true);
            return t.slice(t.indexOf('\n', t.length - KEEP) + 1);
          });
        setErr('');
      } while (s.again);
    } catch (e) {
      setErr('Log: ' + errorText(e));
    } finally {
      s.busy = false;
    }
  };

  useEffect(() => {
    more();
  }, [id]);

  // Follow the end unless the reader scrolled up.
  useEffect(() => {
    const el = ref.current;
    if (el && st.current.stick) el.scrollTop = el.scrollHeight;
  }, [text]);
  const onScroll = () => {
    const el = ref.current;
    if (el) st.current.stick = el.scrollTop + el.clientHeight >= el.scrollHeight - 24;
  };
  return { text, cut, err, ref, onScroll, more };
}

function Actions({ job, onChange }: { job: Job; onChange: (j: Job) => void }) {
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  useEffect(() => {
    if (!confirm) return;
    const t = setTimeout(() => setConfirm(false), 4000);
    return () => clearTimeout(t);
  }, [confirm]);

  const active = job.status === 'queued' || job.status === 'running';
  const canCancel = active && !job.cancel_requested;
  const canRetry = !['queued', 'running'].includes(job.status);
  const post = async (what: 'cancel' | 'retry') => {
    setBusy(true);
    setErr('');
    try {
      const j = await api<Job>(`/commis/jobs/${job.id}/${what}`, { method: 'POST' });
      if (j.id !== job.id) navigate('/commis/' + j.id);
      else onChange(j);
    } catch (e) {
      setErr(errorText(e));
    } finally {
      setBusy(false);
      setConfirm(false);
    }
  };
  return (
    <>
      <div class="row bar">
        <button
          class={'btn' + (confirm ? ' danger confirm' : '')}
          disabled={!canCancel || busy}
          onClick={() => (confirm ? post('cancel') : setConfirm(true))}
          data-testid="job-cancel"
        >
          {job.status === 'cancelled'
            ? 'Cancelled'
            : active && job.cancel_requested
              ? 'Cancelling…'
              : confirm
                ? 'Tap again to cancel'
                : 'Cancel'}
        </button>
        <button class="btn" disabled={!canRetry || busy} onClick={() => post('retry')} data-testid="job-retry">
          Retry
        </button>
      </div>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
    </>
  );
}

function Diff({ id }: { id: number }) {
  const [diff, setDiff] = useState<string | null>(null);
  useEffect(() => {
    apiRaw(`/commis/jobs/${id}/diff`)
      .then((r) => r.text())
      .then(setDiff, () => setDiff(''));
  }, [id]);
  if (!diff) return null;
  const lines = diff.split('\n');
  const shown = lines.length > 4000 ? lines.slice(0, 4000) : lines;
  return (
    <>
      <h2 class="row">
        Diff
        <a class="small end tap" href={`/api/commis/jobs/${id}/diff`} download={`job-${id}.patch`}>
          diff.patch
        </a>
      </h2>
      <pre class="block diff" data-testid="job-diff">
        {shown.map((l, i) => (
          <span
            key={i}
            class={
              /^(\+\+\+|---|diff |index )/.test(l) ? 'dm' : l[0] === '+' ? 'da' : l[0] === '-' ? 'dd' : l.startsWith('@@') ? 'dh' : undefined
            }
          >
            {l + '\n'}
          </span>
        ))}
        {shown !== lines ? `… ${lines.length - shown.length} more lines in diff.patch` : ''}
      </pre>
    </>
  );
}

interface Item {
  kind: string;
  text: string;
}

/**
 * What an agent did, readable: the commis.output events of topic commis:<id>, the
 * history from GET /api/events?topic= and then live ones, ordered and deduped by event id.
 */
function Activity({ id }: { id: number }) {
  const [byId, setById] = useState<Map<number, Item[]>>(new Map());
  const add = (evs: ZergEvent[]) =>
    setById((old) => {
      const m = new Map(old);
      evs.forEach((e) => {
        if (e.kind !== 'commis.output' || m.has(e.id)) return;
        m.set(
          e.id,
          ((e.payload?.events || []) as Item[]).filter((x) => x.text && x.kind !== 'usage'),
        );
      });
      return m;
    });
  const topic = 'commis:' + id;
  useTopics([topic], (e) => e && add([e]));
  useEffect(() => {
    api<{ events: ZergEvent[] }>(`/events?topic=${topic}&limit=500`).then((r) => add(r.events), () => {});
  }, [id]);
  const items = [...byId.keys()].sort((a, b) => a - b).flatMap((k) => byId.get(k)!).slice(-2000);
  return (
    <ol class="convo acts" data-testid="job-activity">
      {!items.length && <li class="muted">No activity yet.</li>}
      {items.map((x, i) =>
        x.kind === 'text' || x.kind === 'result' || x.kind === 'user' ? (
          <li key={i} class={'msg ' + (x.kind === 'user' ? 'user' : 'asst')}>
            <small>{x.kind}</small>
            <div class="text">{x.text}</div>
          </li>
        ) : (
          <li key={i} class="ev">
            <details>
              <summary>
                {x.kind === 'tool_use' ? '⚙ ' : x.kind === 'tool_result' ? '↳ ' : x.kind + ' '}
                {x.text.slice(0, 120)}
              </summary>
              <pre class="block">{x.text}</pre>
            </details>
          </li>
        ),
      )}
    </ol>
  );
}
