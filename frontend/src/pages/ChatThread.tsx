// One Oikos thread: its messages, the reply streaming in (topic oikos:<id>), tool calls as
// cards linking to the commis they started, interrupts as Approve / Reject, and the composer.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import {
  api,
  errorText,
  type OikosInterrupt,
  type OikosMessage,
  type OikosThreadDetail,
  type OikosTurn,
  type ZergEvent,
} from '../api';
import { useTopics } from '../events';
import { linkClick } from '../router';
import { Back, Pending } from './parts';
import { Markers, threadTitle, usageText } from './Chat';
import { Markdown } from './Markdown';

const ACTIVE = ['queued', 'running'];

/** The thread after one oikos.* event (pure: returns a new object, or the same one if nothing changed). */
function apply(d: OikosThreadDetail, e: ZergEvent): OikosThreadDetail {
  const p = e.payload || {};
  if (e.kind === 'oikos.message' && p.message) {
    const m = p.message as OikosMessage;
    const i = d.messages.findIndex((x) => x.id === m.id);
    const old = i < 0 ? null : d.messages[i];
    // An event without html (a job id added to a tool call...) keeps the rendered reply of the same text.
    const next = old && !m.html && old.html && old.text === m.text ? { ...m, html: old.html } : m;
    const messages =
      i < 0 ? [...d.messages, m].sort((a, b) => a.id - b.id) : d.messages.map((x, j) => (j === i ? next : x));
    return { ...d, messages };
  }
  if (e.kind === 'oikos.delta' && typeof p.text === 'string') {
    const i = d.messages.findIndex((x) => x.id === p.message);
    if (i < 0) {
      const m: OikosMessage = {
        id: p.message, thread: d.thread.id, turn: p.turn ?? null, role: 'assistant', text: p.text, html: '', data: {},
        streaming: true, created_at: e.created_at,
      };
      return { ...d, messages: [...d.messages, m].sort((a, b) => a.id - b.id) };
    }
    const old = d.messages[i];
    if (!old.streaming) return d; // the finished text already holds this chunk
    // With an offset (the text's length before this chunk, in code points as Python counts them)
    // a chunk that a re-fetched text already holds is not applied twice.
    const cps = typeof p.offset === 'number' ? Array.from(old.text) : null;
    const text = cps && p.offset <= cps.length ? cps.slice(0, p.offset).join('') + p.text : old.text + p.text;
    return { ...d, messages: d.messages.map((x, j) => (j === i ? { ...old, text } : x)) };
  }
  if (e.kind === 'oikos.turn' && p.turn) {
    const t = p.turn as OikosTurn;
    if (d.turn && t.id < d.turn.id) return d;
    const interrupt = d.interrupt && d.interrupt.turn === t.id && t.status !== 'waiting' ? null : d.interrupt;
    return { ...d, turn: t, interrupt };
  }
  if (e.kind === 'oikos.interrupt' && p.interrupt) return { ...d, interrupt: p.interrupt as OikosInterrupt };
  return d;
}

export function ThreadPage({ id }: { id: number }) {
  const [d, setD] = useState<OikosThreadDetail | null>(null);
  const [err, setErr] = useState('');
  const seq = useRef(0);

  const load = () => {
    const n = ++seq.current;
    api<OikosThreadDetail>('/oikos/threads/' + id).then(
      (r) => n === seq.current && (setD(r), setErr('')),
      (e) => n === seq.current && setErr(errorText(e)),
    );
  };
  useEffect(load, [id]);
  useEffect(() => {
    if (d) document.title = threadTitle(d.thread) + ' · Zerg';
  }, [d?.thread.title]);
  useTopics(['oikos:' + id], (e) => {
    if (!e) return load(); // back from a drop: the reply may have moved on meanwhile
    setD((old) => (old ? apply(old, e) : old));
    // A finished turn changed the thread's totals (and a title may have been set).
    if (e.kind === 'oikos.turn' && !ACTIVE.includes(e.payload?.turn?.status)) load();
  });
  // A safety net while a turn runs, in case events are late or the stream is down.
  const active = !!d?.turn && ACTIVE.includes(d.turn.status);
  useEffect(() => {
    if (!active) return;
    const t = setInterval(load, 15000);
    return () => clearInterval(t);
  }, [active]);
  const stick = useStick(d?.messages);

  if (!d) return <Pending back={<Back href="/chat">All conversations</Back>} err={err} />;

  const results = new Map<string, OikosMessage>();
  d.messages.forEach((m) => m.role === 'tool_result' && m.data?.tool_use_id && results.set(m.data.tool_use_id, m));
  const calls = new Set(d.messages.filter((m) => m.role === 'tool_call').map((m) => m.data?.tool_use_id));
  const usage = usageText(d.thread.usage, d.thread.cost_usd);
  const turn = d.turn;
  return (
    <section class="page chat" data-testid="chat-thread" data-thread-id={id}>
      <Back href="/chat">All conversations</Back>
      <header class="row">
        <h1 class="clamp1">{threadTitle(d.thread)}</h1>
        <span class="row nowrap">
          <Markers running={active} interrupt={!!d.interrupt} />
        </span>
      </header>
      <p class="small tabular" data-testid="thread-usage">
        {usage || 'No tokens used yet.'}
        {turn?.usage && turn.status === 'done' && usageText(turn.usage, turn.cost_usd)
          ? ' (last turn: ' + usageText(turn.usage, turn.cost_usd) + ')'
          : ''}
        {d.timeline_session != null && (
          <>
            {' · '}
            <a href={'/timeline/' + d.timeline_session} onClick={linkClick}>
              in the Timeline
            </a>
          </>
        )}
      </p>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      <div role="log" aria-label="Conversation">
        <ol class="convo" data-testid="messages">
          {!d.messages.length && (
            <li class="muted">
              Ask Oikos for anything: “clone github.com/me/app and make the tests pass”, “what are my commis doing?”. Type
              /help for the slash commands.
            </li>
          )}
          {d.messages.map((m) =>
            m.role === 'tool_call' ? (
              <ToolCard key={m.id} call={m} result={results.get(m.data?.tool_use_id)} />
            ) : m.role === 'tool_result' ? (
              calls.has(m.data?.tool_use_id) ? null : <ToolCard key={m.id} result={m} />
            ) : (
              <Bubble key={m.id} m={m} />
            ),
          )}
        </ol>
      </div>
      {active && !d.messages.some((m) => m.streaming) && (
        <p class="muted small" role="status" data-testid="turn-working">
          Oikos is working…
        </p>
      )}
      {/* The runner also writes the error into the thread as a notice: shown there, not twice. */}
      {turn?.status === 'failed' && turn.error && !d.messages.some((m) => m.turn === turn.id && m.data?.error) && (
        <p class="error" role="alert" data-testid="turn-error">
          {turn.error}
        </p>
      )}
      {d.interrupt && <Interrupt key={d.interrupt.turn} q={d.interrupt} onDone={load} />}
      <Composer
        id={id}
        wait={active ? 'Oikos is working; you can send when it is done' : d.interrupt ? 'Answer the question above first' : ''}
        onSent={(m, t) => {
          stick.current = true;
          setD((old) => old && apply(apply(old, { kind: 'oikos.message', payload: { message: m } } as ZergEvent),
                                      { kind: 'oikos.turn', payload: { turn: t } } as ZergEvent));
        }}
      />
    </section>
  );
}

/** Follow the end of the page as messages grow, unless the reader scrolled up. */
function useStick(dep: unknown) {
  const stick = useRef(true);
  useEffect(() => {
    const on = () => (stick.current = innerHeight + scrollY >= document.documentElement.scrollHeight - 120);
    addEventListener('scroll', on, { passive: true });
    return () => removeEventListener('scroll', on);
  }, []);
  useLayoutEffect(() => {
    if (stick.current) scrollTo(0, document.documentElement.scrollHeight);
  }, [dep]);
  return stick;
}

/** Text with its in-app paths ("/commis/12", "/timeline/3") as links. */
function Linked({ text }: { text: string }) {
  return (
    <>
      {text.split(/((?<![\w/])\/(?:commis|timeline|chat)\/\d+)/).map((part, i) =>
        i % 2 ? (
          <a key={i} href={part} onClick={linkClick}>
            {part}
          </a>
        ) : (
          part
        ),
      )}
    </>
  );
}

function Bubble({ m }: { m: OikosMessage }) {
  if (m.role === 'system')
    return (
      <li class="msg sys" data-testid="system-notice" data-job-id={m.data?.job_id ?? undefined}>
        <div class="text">
          <Linked text={m.text} />
        </div>
      </li>
    );
  if (m.role === 'untrusted')
    // Not the owner's words (a job's or agent's Forum post that mentions @oikos): shown as data, with its author.
    return (
      <li class="msg ext" data-testid="untrusted-message" data-message-id={m.id}>
        <small data-testid="untrusted-author">
          {m.data?.author || 'An agent'}
          {m.data?.forum_post ? ' in the Forum' : ''} · not you: Oikos reads it as data
        </small>
        <div class="text">
          <Linked text={m.text} />
        </div>
      </li>
    );
  const owner = m.role === 'owner';
  return (
    <li
      class={'msg ' + (owner ? 'user' : 'asst')}
      data-testid={owner ? 'owner-message' : 'assistant-message'}
      data-message-id={m.id}
      data-streaming={m.streaming ? 'true' : undefined}
    >
      <small>{owner ? 'You' : 'Oikos'}</small>
      {/* The streaming reply is announced politely, once a batch has arrived. */}
      {m.html && !m.streaming ? (
        <Markdown html={m.html} cls="text" />
      ) : (
        <div class={'text' + (m.streaming ? ' caret' : '')} aria-live={m.streaming ? 'polite' : undefined}>
          {m.text ? <Linked text={m.text} /> : m.streaming ? 'Thinking…' : ''}
        </div>
      )}
    </li>
  );
}

/** The most telling part of a tool's input, on one line. */
function brief(input: any): string {
  if (input == null) return '';
  if (typeof input !== 'object') return String(input);
  for (const k of ['task', 'query', 'q', 'text', 'command', 'name', 'job_id', 'session_id', 'message_id']) {
    const v = input[k];
    if (typeof v === 'string' || typeof v === 'number') return (k === 'job_id' ? 'job #' : '') + v;
  }
  const s = JSON.stringify(input);
  return s === '{}' ? '' : s;
}

function ToolCard({ call, result }: { call?: OikosMessage; result?: OikosMessage }) {
  const [full, setFull] = useState<string | null>(null);
  const [err, setErr] = useState('');
  const name = call?.data?.name || 'tool';
  const jobId = call?.data?.job_id ?? result?.data?.job_id;
  const failed = !!result?.data?.is_error;
  const state = !result ? 'running' : failed ? 'failed' : 'done';
  // A slash command's answer is what the owner asked to see: open, not folded under "Details".
  const slash = String(call?.data?.tool_use_id ?? result?.data?.tool_use_id ?? '').startsWith('slash-');
  const more = () =>
    api<{ id: number; text: string }>(`/oikos/messages/${result!.id}/full`).then(
      (r) => setFull(r.text),
      (e) => setErr(errorText(e)),
    );
  return (
    <li class="tool" data-testid="tool-card" data-tool={name} data-state={state} data-job-id={jobId ?? undefined}>
      <div class="row nowrap">
        <span aria-hidden="true">{state === 'running' ? '⋯' : failed ? '✗' : '✓'}</span>
        <b>{name}</b>
        <span class="clamp1 muted">{brief(call?.data?.input)}</span>
        {jobId != null && (
          <a class="end tap" href={'/commis/' + jobId} onClick={linkClick} data-testid="tool-job-link">
            Commis #{jobId}
          </a>
        )}
      </div>
      <details open={slash}>
        <summary>
          {state === 'running' ? 'Running…' : failed ? 'Failed: details' : slash ? 'Answer' : 'Details'}
          <span class="sr"> of {name}</span>
        </summary>
        {call && !slash && <pre class="block">{JSON.stringify(call.data?.input ?? {}, null, 2)}</pre>}
        {result && <pre class={'block' + (failed ? ' bad' : '')}>{full ?? result.text}</pre>}
        {result?.data?.truncated && full == null && (
          <button class="btn" type="button" onClick={more}>
            Show the whole output
          </button>
        )}
        {err && <p class="error">{err}</p>}
      </details>
    </li>
  );
}

function Interrupt({ q, onDone }: { q: OikosInterrupt; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const answer = async (a: 'approve' | 'reject') => {
    setBusy(true);
    setErr('');
    try {
      await api(`/oikos/turns/${q.turn}/answer`, { method: 'POST', body: { answer: a } });
      onDone();
    } catch (e) {
      setErr(errorText(e));
      setBusy(false);
    }
  };
  const action = q.action && Object.keys(q.action).length ? JSON.stringify(q.action) : '';
  return (
    <div class="card stack interrupt" role="group" aria-labelledby={'iq-' + q.turn} data-testid="interrupt">
      <p id={'iq-' + q.turn}>
        <b>Oikos asks:</b> {q.question}
      </p>
      {action && (
        <details>
          <summary class="tap">What exactly</summary>
          <pre class="block">{JSON.stringify(q.action, null, 2)}</pre>
        </details>
      )}
      <div class="row">
        <button class="btn primary" disabled={busy} onClick={() => answer('approve')} data-testid="interrupt-approve">
          Approve
        </button>
        <button class="btn danger" disabled={busy} onClick={() => answer('reject')} data-testid="interrupt-reject">
          Reject
        </button>
      </div>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
    </div>
  );
}

/** The message box; `wait` (why not now) disables sending while the thread's turn is unfinished. */
function Composer({ id, wait, onSent }: { id: number; wait: string; onSent: (m: OikosMessage, t: OikosTurn) => void }) {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [err, setErr] = useState('');
  const send = async (e?: Event) => {
    e?.preventDefault();
    if (sending || wait || !text.trim()) return;
    setSending(true);
    setErr('');
    try {
      const r = await api<{ message: OikosMessage; turn: OikosTurn }>(`/oikos/threads/${id}/messages`, {
        method: 'POST',
        body: { text },
      });
      setText('');
      onSent(r.message, r.turn);
    } catch (x) {
      setErr(errorText(x));
    } finally {
      setSending(false);
    }
  };
  return (
    <form class="composer" onSubmit={send} data-testid="composer">
      {err && (
        <p class="error" role="alert" data-testid="composer-error">
          {err}
        </p>
      )}
      <div class="row nowrap">
        <label class="grow">
          <span class="sr">Message to Oikos</span>
          <textarea
            rows={2}
            value={text}
            readOnly={sending} // not disabled: that would close a phone's keyboard on every send
            placeholder={wait || 'Message Oikos'}
            onInput={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              // Enter sends, Shift+Enter is a new line (not while an input method composes).
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) send(e);
            }}
            data-testid="composer-input"
          />
        </label>
        <button
          class="btn primary"
          type="submit"
          disabled={sending || !!wait || !text.trim()}
          title={wait || undefined}
          data-testid="composer-send"
        >
          {sending ? 'Sending…' : 'Send'}
        </button>
      </div>
      {wait && text.trim() && <p class="small">{wait}.</p>}
    </form>
  );
}
