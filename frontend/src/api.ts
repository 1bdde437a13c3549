// Thin fetch wrapper for the Django API (same origin, session cookie + CSRF).

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

// ---- Shapes of the backend's responses ----

export interface Me {
  username: string;
}

/** Props every page gets from the shell. */
export interface PageProps {
  me: Me;
  /** Forget the session locally (call after POST /api/auth/logout). */
  logout: () => void;
}

export interface ZergEvent {
  id: number;
  topic: string;
  kind: string;
  payload: any;
  created_at: string;
}

export interface Slots {
  max: number;
  running: number;
}

export interface Worker {
  name: string;
  host: string;
  pid: number;
  alive: boolean;
  last_seen: string;
  started_at: string;
}

export interface SystemStatus {
  server: { alive: boolean; pid: number; host: string; url: string; last_seen: string } | null;
  workers: Worker[];
  worker_alive: boolean;
  commis_slots: Slots;
  database: string;
  version: string;
}

export interface Token {
  id: number;
  name: string;
  kind: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out';

/** Job.as_dict() of commis/models.py. */
export interface Job {
  id: number;
  task: string;
  backend: string;
  status: JobStatus;
  repo_url: string;
  branch: string;
  workdir: string;
  workspace: string;
  attempts: number;
  max_attempts: number;
  worker: string;
  cancel_requested: boolean;
  timeout: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  elapsed: number | null;
  exit_code: number | null;
  summary: string;
  usage: Record<string, unknown>;
  cost_usd: number | null;
  session_id: string;
  origin: string;
}

export interface JobList {
  jobs: Job[];
  slots: { max: number; running: number; queued: number };
}

/** Session.as_dict() of timeline/models.py. */
export interface TSession {
  id: number;
  provider: string;
  provider_session_id: string;
  parent_id: number | null;
  project: string;
  cwd: string;
  device: string;
  git: { remote: string; branch: string; commit: string };
  title: string;
  model: string;
  started_at: string | null;
  ended_at: string | null;
  tokens: { input: number; output: number; cache_read: number; cache_creation: number };
  cost_usd: number | null;
  cost_partial: boolean;
  event_count: number;
  subagent_count?: number;
}

/** Event.as_dict() of timeline/models.py. */
export interface TEvent {
  id: number;
  ordinal: number;
  kind: string;
  role: string;
  record_type: string;
  text: string;
  tool_name: string;
  tool_input: string;
  tool_output: string;
  tool_call_id: string;
  model: string;
  timestamp: string | null;
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

// ---- Oikos (the chat): shapes of /api/oikos ----

export interface OikosUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

export interface OikosThread {
  id: number;
  title: string;
  created_at: string;
  updated_at: string;
  preview: string;
  running: boolean;
  interrupt: boolean;
  usage: OikosUsage;
  cost_usd: number | null;
}

/** untrusted: a job's or agent's text that started a turn (never the owner's words). */
export type OikosRole = 'owner' | 'assistant' | 'tool_call' | 'tool_result' | 'system' | 'untrusted';

export interface OikosMessage {
  id: number;
  thread: number;
  turn: number | null;
  role: OikosRole;
  text: string;
  /** tool_call: {name, input, tool_use_id, job_id?}; tool_result: {tool_use_id, is_error, truncated, job_id?} */
  data: Record<string, any>;
  streaming: boolean;
  created_at: string;
}

export type OikosTurnStatus = 'queued' | 'running' | 'waiting' | 'done' | 'failed';

export interface OikosTurn {
  id: number;
  thread: number;
  status: OikosTurnStatus;
  error: string;
  usage: Partial<OikosUsage>;
  cost_usd: number | null;
  created_at: string;
  finished_at: string | null;
}

export interface OikosInterrupt {
  turn: number;
  question: string;
  options: string[];
  action: Record<string, any>;
}

export interface OikosThreadDetail {
  thread: OikosThread;
  messages: OikosMessage[];
  turn: OikosTurn | null;
  interrupt: OikosInterrupt | null;
  /** The thread's session in the Timeline, once it has one. */
  timeline_session?: number | null;
}

// ---- Forum (forum/services.py) ----

export interface FBoard {
  slug: string;
  name: string;
  description: string;
  threads: number;
  unread: number;
}

export interface FPost {
  id: number;
  thread: number;
  author_kind: 'owner' | 'oikos' | 'commis' | 'system';
  author_ref: string;
  author: string;
  text: string;
  /** Rendered and sanitized on the server: safe to insert as HTML. */
  html: string;
  created_at: string;
}

export interface FThread {
  id: number;
  board: string;
  title: string;
  author_kind: string;
  author_ref: string;
  job: number | null;
  created_at: string;
  last_post_at: string;
  post_count: number;
  read_upto: number;
  unread: number;
  posts?: FPost[];
  has_more?: boolean;
}

export interface FFollowup {
  job: number;
  followup?: number;
  thread?: number;
  error?: string;
}

export interface FSearchHit {
  post: number;
  thread: number;
  title: string;
  board: string;
  author: string;
  created_at: string;
  /** HTML-escaped, with <mark> around matches. */
  snippet: string;
}

export interface FClaim {
  resource: string;
  holder: string;
  note: string;
  created_at: string;
}

// ---- Sauron schedules: shapes of /api/schedules (commis/schedules.py) ----

export interface ScheduleRun {
  id: number;
  trigger: 'schedule' | 'manual' | 'missed';
  due_at: string | null;
  created_at: string;
  error: string;
  job_id: number | null;
  /** the job's status, or "error" (no job could be spawned) / "gone" (the job was deleted) */
  status: JobStatus | 'error' | 'gone';
  summary: string;
  finished_at: string | null;
}

export interface ScheduleMissed {
  id: number;
  count: number;
  first_at: string;
  last_at: string;
  policy: 'skip' | 'run_once';
  /** why these due times did not run on their own (skipped, ran once, folded into another run) */
  reason: string;
  run_job_id: number | null;
  run_due_at: string | null;
  noticed_at: string;
}

export interface Schedule {
  id: number;
  name: string;
  cron: string;
  tz: string;
  interval: number | null;
  task: string;
  backend: string;
  repo_url: string;
  timeout: number | null;
  enabled: boolean;
  missed: 'skip' | 'run_once';
  next_run_at: string | null;
  next_runs: string[];
  last_run: ScheduleRun | null;
  last_missed: ScheduleMissed | null;
  created_at: string;
  updated_at: string;
}

export interface ScheduleFailures {
  days: number;
  count: number;
  runs: (ScheduleRun & { schedule: string })[];
}

// --- Needs attention and Web Push (zerg_site/attention.py, zerg_site/push/api.py)
export interface AttentionItem {
  key: string;
  kind: 'interrupt' | 'blocked' | 'job_failed' | 'schedule_failed';
  title: string;
  detail: string;
  url: string;
  at: string | null;
  dismissable: boolean;
}

export interface PushStatus {
  public_key: string;
  kinds: Record<string, string>;
  preferences: Record<string, boolean>;
  subscriptions: { id: number; endpoint: string; name: string; created_at: string; last_sent_at: string | null; last_error: string }[];
}
