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
  let res: Response;
  try {
    res = await fetch('/api' + path, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch {
    throw new ApiError(0, 'Network error: the server cannot be reached.');
  }
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

// ---- Small formatting helpers shared by pages ----

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
