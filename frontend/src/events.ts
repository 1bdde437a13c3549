// The live event stream: one WebSocket to /ws/events shared by the whole app.
//
// - primes itself with the newest events from GET /api/events, then subscribes
//   to every topic with `after` = the last id seen, so nothing is missed or doubled;
// - on a drop it reconnects with exponential backoff (1 s, 2 s, 4 s … max 10 s)
//   and resumes from the last id seen (a phone that slept loses nothing);
// - dedupes by event id and keeps the newest MAX events in memory;
// - close code 4401 (not logged in) hands over to the login page.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, notifyUnauthorized, type ZergEvent } from './api';

export type StreamState = 'connecting' | 'live' | 'offline';

const MAX = 50;
const PRIME = 20;
const MAX_DELAY = 10000;

type Listener<T> = (v: T) => void;

class EventStream {
  state: StreamState = 'offline';
  /** Newest first, at most MAX. */
  recent: ZergEvent[] = [];
  /** Highest event id seen; -1 until primed. */
  lastId = -1;

  private seen = new Set<number>();
  private ws: WebSocket | null = null;
  private timer = 0;
  private retry = 0;
  private gen = 0; // bumped on every drop: stale async work checks it
  private running = false;
  private hiddenAt = 0;
  private eventFns = new Set<Listener<ZergEvent>>();
  private changeFns = new Set<Listener<void>>();

  /** Called for each new event (live or replayed after a reconnect). */
  onEvent(fn: Listener<ZergEvent>): () => void {
    this.eventFns.add(fn);
    return () => this.eventFns.delete(fn);
  }

  /** Called when `state` or `recent` changes. */
  onChange(fn: Listener<void>): () => void {
    this.changeFns.add(fn);
    return () => this.changeFns.delete(fn);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    addEventListener('online', this.wake);
    document.addEventListener('visibilitychange', this.wake);
    this.connect();
  }

  /** Stop and forget everything (on logout / session loss). */
  stop(): void {
    this.running = false;
    removeEventListener('online', this.wake);
    document.removeEventListener('visibilitychange', this.wake);
    this.drop();
    this.recent = [];
    this.seen.clear();
    this.lastId = -1;
    this.retry = 0;
    this.setState('offline');
  }

  private setState(s: StreamState): void {
    if (this.state === s) return;
    this.state = s;
    this.changed();
  }

  private changed(): void {
    this.changeFns.forEach((fn) => fn());
  }

  private drop(): void {
    this.gen++;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      ws.close();
    }
  }

  // Phone woke up or network came back: don't wait for the backoff timer, and
  // replace a socket that may have died silently while the page was hidden.
  private wake = (): void => {
    if (!this.running) return;
    if (document.visibilityState === 'hidden') {
      this.hiddenAt = Date.now();
      return;
    }
    const stale = this.hiddenAt && Date.now() - this.hiddenAt > 20000;
    this.hiddenAt = 0;
    if (!this.ws || stale || this.state === 'offline') {
      this.retry = 0;
      this.connect();
    }
  };

  private add(e: ZergEvent, notify: boolean): void {
    if (typeof e?.id !== 'number' || this.seen.has(e.id)) return;
    this.seen.add(e.id);
    if (e.id > this.lastId) this.lastId = e.id;
    const r = [e, ...this.recent];
    r.sort((a, b) => b.id - a.id);
    this.recent = r.slice(0, MAX);
    if (this.seen.size > 1000) this.seen = new Set(this.recent.map((x) => x.id));
    if (notify) this.eventFns.forEach((fn) => fn(e));
  }

  private schedule(): void {
    this.drop();
    this.setState('offline');
    const delay = Math.min(MAX_DELAY, 1000 * 2 ** this.retry++);
    this.timer = setTimeout(() => this.connect(), delay) as unknown as number;
  }

  private async connect(): Promise<void> {
    this.drop();
    const gen = this.gen;
    this.setState('connecting');
    if (this.lastId < 0) {
      try {
        const r = await api<{ events: ZergEvent[]; last_id: number | null }>(
          '/events?limit=' + PRIME,
        );
        if (gen !== this.gen) return;
        r.events.forEach((e) => this.add(e, false));
        this.lastId = Math.max(this.lastId, r.last_id || 0, 0);
        this.changed();
      } catch (e) {
        // A 401 already went to the login page through api().
        if (gen === this.gen && this.running && !(e instanceof ApiError && e.status === 401)) this.schedule();
        return;
      }
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/events');
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'subscribe', topics: ['*'], after: this.lastId }));
    ws.onmessage = (m) => {
      let msg: any;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.type === 'event') {
        const before = this.recent;
        this.add(msg.event, true);
        if (this.recent !== before) this.changed();
      } else if (msg.type === 'subscribed') {
        this.retry = 0;
        if (typeof msg.last_id === 'number' && msg.last_id > this.lastId) this.lastId = msg.last_id;
        this.setState('live');
      } else if (msg.type === 'error') {
        console.warn('event stream:', msg.detail);
      }
    };
    ws.onclose = (c) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (c.code === 4401) {
        this.stop();
        notifyUnauthorized();
      } else if (this.running) {
        this.schedule();
      }
    };
  }
}

export const stream = new EventStream();

/**
 * While mounted, call fn for each new event on one of `topics` (exact topic names),
 * and `fn(null)` when the stream comes back live after a drop (refetch what may be stale).
 */
export function useTopics(topics: string[], fn: (e: ZergEvent | null) => void): void {
  const ref = useRef(fn);
  ref.current = fn;
  const key = topics.join(' ');
  useEffect(() => {
    let was = stream.state;
    const offEvent = stream.onEvent((e) => topics.includes(e.topic) && ref.current(e));
    const offChange = stream.onChange(() => {
      if (stream.state === 'live' && was !== 'live') ref.current(null);
      was = stream.state;
    });
    return () => (offEvent(), offChange());
  }, [key]);
}

/** Re-render the calling component whenever the stream changes. */
export function useStream(): EventStream {
  const [, set] = useState(0);
  useEffect(() => stream.onChange(() => set((n) => n + 1)), []);
  return stream;
}
