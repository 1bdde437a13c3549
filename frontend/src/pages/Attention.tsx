// "Needs attention": everything waiting on the owner (interrupts, queued commis with no worker,
// failed jobs and schedule runs not yet seen), and the nav badge with its count.
import { useEffect, useState } from 'preact/hooks';
import { api, ago, errorText, type AttentionItem } from '../api';
import { useTopics } from '../events';
import { linkClick } from '../router';
import { Loading } from './parts';

const TOPICS = ['commis', 'oikos', 'schedules'];
const changed = () => dispatchEvent(new Event('zerg-attention'));

/** The count, refreshed on commis/Oikos events, on reconnect and after "seen". */
function useCount(): number {
  const [count, setCount] = useState(0);
  const load = () => api<{ count: number }>('/attention/count').then((r) => setCount(r.count), () => {});
  useEffect(() => {
    load();
    addEventListener('zerg-attention', load);
    return () => removeEventListener('zerg-attention', load);
  }, []);
  useTopics(TOPICS, load);
  return count;
}

/** The red number on the nav's Attention tab (mounted inside the nav link). */
export function AttentionCount() {
  const count = useCount();
  if (!count) return null;
  return (
    <>
      <b
        aria-hidden="true"
        data-testid="attention-count"
        style="position:absolute;transform:translate(13px,-15px);min-width:18px;height:18px;padding:0 5px;border-radius:9px;background:var(--bad);color:#fff;font-size:11px;line-height:18px;text-align:center"
      >
        {count > 99 ? '99+' : count}
      </b>
      <span class="sr"> ({count} waiting)</span>
    </>
  );
}

export function Attention() {
  const [items, setItems] = useState<AttentionItem[] | null>(null);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const load = () =>
    api<{ count: number; items: AttentionItem[] }>('/attention').then(
      (r) => (setItems(r.items), setErr('')),
      (e) => setErr(errorText(e)),
    );
  useEffect(() => {
    load();
  }, []);
  useTopics(TOPICS, load);

  const seen = async (body: object) => {
    setBusy(true);
    try {
      await api('/attention/seen', { method: 'POST', body });
      await load();
      changed();
    } catch (e) {
      setErr(errorText(e));
    }
    setBusy(false);
  };
  const dismissable = (items || []).filter((i) => i.dismissable);

  return (
    <section class="page" data-testid="attention">
      <header class="row">
        <h1>Needs attention</h1>
        {dismissable.length > 1 && (
          <button class="btn" disabled={busy} onClick={() => seen({ all: true })} data-testid="attention-all-seen">
            Mark all seen
          </button>
        )}
      </header>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {items === null ? (
        !err && <Loading />
      ) : items.length === 0 ? (
        <p class="muted" data-testid="attention-empty">
          Nothing is waiting on you.
        </p>
      ) : (
        <ul class="tokens" data-testid="attention-list">
          {items.map((i) => (
            <li key={i.key} class="card row" data-testid="attention-item">
              <div class="grow" style="min-width:0;overflow-wrap:anywhere">
                <a href={i.url} onClick={linkClick} class="small-btn">
                  <b>{i.title}</b>
                </a>
                {i.detail && <div>{i.detail}</div>}
                <small>{i.at ? ago(i.at) : ''}</small>
              </div>
              {i.dismissable && (
                <button class="btn" disabled={busy} onClick={() => seen({ keys: [i.key] })} data-testid="attention-seen">
                  Seen<span class="sr"> {i.title}</span>
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
