// Thin fetch wrapper for the Django API (same origin, session cookie + CSRF).

import type { components } from './api.gen';

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

let unauthorized: () => void = () => {};

/** Called whenever the server says the session is gone (HTTP 401, WS close 4401). */
export function onUnauthorized(fn: () => void): void {
  unauthorized = fn;
}
export function notifyUnauthorized(): void {
  unauthorized();
}

function cookie(name: string): string {
  const m = document.cookie.match('(?:^|; )' + name + '=([^;]*)');
  return m ? decodeURIComponent(m[1]) : '';
}

export const OFFLINE_NOT_SENT = 'You are offline: this was not sent. Try again when you are back online.';
const NOT_SENT = 'Not sent: the server cannot be reached. Try again when you are back online.';

let fromCache: (cached: boolean) => void = () => {};
/** Told whether each API answer came from the network or, offline, from the service worker's cache. */
export function onCachedData(fn: (cached: boolean) => void): void {
  fromCache = fn;
}
function noteSource(res: Response): void {
  fromCache(res.headers.get('X-Zerg-Offline') === '1');
}

/**
 * Call /api<path>. Resolves with the parsed JSON body, rejects with ApiError
 * (message = the server's `detail` when it gives one).
 * A 401 also triggers the unauthorized handler unless `quiet401` is set.
 */
export async function api<T = unknown>(
  path: string,
  opts: { method?: string; body?: unknown; quiet401?: boolean } = {},
): Promise<T> {
  const method = opts.method || 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    headers['X-CSRFToken'] = cookie('csrftoken');
  }
  // Offline, actions are refused with a message rather than queued: replaying an old "cancel" or
  // "send" hours later would surprise more than it helps. Reads fall back to the service worker's cache.
  if (method !== 'GET' && navigator.onLine === false) throw new ApiError(0, OFFLINE_NOT_SENT);
  let res: Response;
  try {
    res = await fetch('/api' + path, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch {
    throw new ApiError(0, method === 'GET' ? 'Network error: the server cannot be reached.' : NOT_SENT);
  }
  noteSource(res);
  let data: any = null;
  try {
    data = await res.json();
  } catch {
    /* empty or non-JSON body */
  }
  if (!res.ok) {
    if (res.status === 401 && !opts.quiet401) unauthorized();
    const detail = data && typeof data.detail === 'string' ? data.detail : '';
    throw new ApiError(res.status, detail || `Request failed (HTTP ${res.status}).`);
  }
  return data as T;
}

/** GET /api<path> as text (decoded by the caller): the raw Response, checked like api(). */
export async function apiRaw(path: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch('/api' + path, { credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'Network error: the server cannot be reached.');
  }
  noteSource(res);
  if (!res.ok) {
    if (res.status === 401) unauthorized();
    throw new ApiError(res.status, `Request failed (HTTP ${res.status}).`);
  }
  return res;
}

/** A query string from the non-empty values ("" when none). */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const k in params) {
    const v = params[k];
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const t = p.toString();
  return t ? '?' + t : '';
}

export const errorText = (e: unknown): string =>
  e instanceof Error ? e.message : String(e);

// ---- Shapes of the backend's responses: generated from the server's schemas ----
// api.gen.ts is written by `npm run gen:api` from openapi.json (`python manage.py export_openapi
// frontend/openapi.json`); never edit either by hand. The names below are the pages' short names.

type S = components['schemas'];

export type Me = S['MeOut'];
/** An event of the log; its payload depends on the kind (data, so typed loosely on purpose). */
export type ZergEvent = Omit<S['EventOut'], 'payload'> & { payload: any };
export type Slots = S['Slots'];
export type Worker = S['HeartbeatOut'];
export type SystemStatus = S['StatusOut'];
export type Token = S['TokenOut'];

/** Job.as_dict() of commis/models.py. */
export type Job = S['JobOut'];
export type JobStatus = Job['status'];
export type JobList = S['JobsOut'];
/** A backend and whether it can run on the server (GET /commis/backends): if not, why and the fix. */
export type BackendInfo = S['BackendOut'];

/** Session.as_dict() of timeline/models.py (with subagent_count in the list). */
export type TSession = S['SessionOut'] & { subagent_count?: number };
/** Event.as_dict() of timeline/models.py. */
export type TEvent = S['TimelineEventOut'];
export type SessionDetail = S['SessionDetailOut'];
export type EventHit = S['EventHitOut'];
export type JobBrief = S['JobBriefOut'];
export type Continuations = S['ContinuationsOut'];

// Oikos (the chat): /api/oikos
export type OikosUsage = S['OikosUsageOut'];
export type OikosThread = S['OikosThreadOut'];
/** untrusted: a job's or agent's text that started a turn (never the owner's words). */
export type OikosRole = S['OikosMessageOut']['role'];
/** tool_call data: {name, input, tool_use_id, job_id?}; tool_result: {tool_use_id, is_error, truncated, job_id?} */
export type OikosMessage = Omit<S['OikosMessageOut'], 'data'> & { data: Record<string, any> };
export type OikosTurnStatus = S['OikosTurnOut']['status'];
export type OikosTurn = Omit<S['OikosTurnOut'], 'usage'> & { usage: Partial<OikosUsage> };
export type OikosInterrupt = Omit<S['OikosInterruptOut'], 'action'> & { action: Record<string, any> };
export type OikosThreadDetail = Omit<S['OikosThreadDetailOut'], 'messages' | 'turn' | 'interrupt'> & {
  messages: OikosMessage[];
  turn: OikosTurn | null;
  interrupt: OikosInterrupt | null;
};

// Forum: /api/forum
export type FBoard = S['BoardRowOut'];
export type FPost = S['ForumPostOut'];
/** A thread; with its posts when read whole. */
export type FThread = S['ForumThreadOut'] & { posts?: FPost[]; has_more?: boolean };
export type FFollowup = S['FollowupOut'];
export type FSearchHit = S['PostHitOut'];
export type FClaim = S['ClaimOut'];

// Sauron schedules: /api/schedules
export type ScheduleRun = S['ScheduleRunOut'];
export type ScheduleMissed = S['ScheduleMissOut'];
export type Schedule = S['ScheduleOut'];
export type ScheduleFailures = S['ScheduleFailuresOut'];

// Needs attention and Web Push
export type AttentionItem = S['AttentionItemOut'];
export type PushStatus = S['PushStatusOut'];

/** Props every page gets from the shell. */
export interface PageProps {
  me: Me;
  /** Forget the session locally (call after POST /api/auth/logout). */
  logout: () => void;
}


// ---- Small formatting helpers shared by pages ----

/** 1234 -> "1.2k", 3400000 -> "3.4M". */
export function num(n: number | null | undefined): string {
  n = n || 0;
  if (n < 1000) return String(n);
  if (n < 1e6) return (n / 1e3).toFixed(n < 1e4 ? 1 : 0) + 'k';
  return (n / 1e6).toFixed(n < 1e7 ? 1 : 0) + 'M';
}

/** A session's cost: "$1.23", "< $0.01", "≥ $1.23" when some tokens have no price, "" when none do. */
export function usd(s: { cost_usd: number | null; cost_partial: boolean }): string {
  if (s.cost_usd == null) return '';
  if (s.cost_partial) return '≥ $' + s.cost_usd.toFixed(2);
  return s.cost_usd > 0 && s.cost_usd < 0.01 ? '< $0.01' : '$' + s.cost_usd.toFixed(2);
}

/** Seconds -> "42s", "3m 05s", "2h 10m". */
export function dur(s: number | null | undefined): string {
  if (s == null || isNaN(s)) return '–';
  s = Math.max(0, Math.floor(s));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
  return Math.floor(s / 3600) + 'h ' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short', hour12: false });
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return 'never';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (isNaN(s)) return iso;
  if (s < 5) return 'just now';
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return new Date(iso).toLocaleDateString();
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}
