// Zerg's service worker (served at /sw.js, scope /). Plain JS in public/: Vite copies it as is,
// so its URL never changes and the browser re-checks it on every visit.
//
// - Pages: network first; offline, any page path gets the last app shell ("/"), and the SPA routes.
// - /assets/*: cache first (Vite names them by content hash); the shell's assets are cached at install
//   and refreshed whenever a newer shell is fetched, older ones are dropped.
// - GET /api/*: network first, the last good answer when the network is gone (marked with the
//   X-Zerg-Offline header so the page can say the data is old). Other methods are never cached.
// - Web Push: a JSON payload {title, body, url, tag, kind} becomes a notification; a tap focuses an
//   open window (navigated to url) or opens url.
const SHELL = 'zerg-shell-v1';
const API = 'zerg-api-v1';
const KEEP = [SHELL, API];

/** Fetch the shell, cache it and the /assets/ files it references; drop assets it no longer uses. */
async function refreshShell(response) {
  const cache = await caches.open(SHELL);
  const html = await response.clone().text();
  await cache.put('/', response);
  const assets = new Set([...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]));
  await Promise.all(
    [...assets].map(async (path) => {
      if (!(await cache.match(path))) {
        const r = await fetch(path);
        if (r.ok) await cache.put(path, r);
      }
    }),
  );
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path.startsWith('/assets/') && !assets.has(path)) await cache.delete(request);
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    fetch('/', { credentials: 'same-origin' })
      .then((r) => (r.ok ? refreshShell(r) : undefined))
      .catch(() => undefined)
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => !KEEP.includes(n)).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

async function page(request) {
  try {
    const response = await fetch(request);
    if (response.ok && (response.headers.get('content-type') || '').includes('text/html')) {
      refreshShell(response.clone()).catch(() => undefined);
    }
    return response;
  } catch (err) {
    const shell = await caches.match('/', { cacheName: SHELL });
    if (shell) return shell;
    throw err;
  }
}

async function asset(request) {
  const hit = await caches.match(request, { cacheName: SHELL });
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && new URL(request.url).pathname.startsWith('/assets/')) {
    const cache = await caches.open(SHELL);
    await cache.put(request, response.clone());
  }
  return response;
}

async function apiGet(event) {
  const request = event.request;
  const cache = await caches.open(API);
  try {
    const response = await fetch(request);
    const type = response.headers.get('content-type') || '';
    // Stored in the background: the page gets its answer (or its stream) at once.
    if (response.status === 200 && /json|text\/plain/.test(type)) event.waitUntil(cache.put(request, response.clone()));
    else if (response.status === 401) event.waitUntil(caches.delete(API));
    return response;
  } catch (err) {
    const hit = await cache.match(request);
    if (!hit) throw err;
    const headers = new Headers(hit.headers);
    headers.set('X-Zerg-Offline', '1');
    return new Response(hit.body, { status: hit.status, statusText: hit.statusText, headers });
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (path.startsWith('/api/')) {
    // The login itself, and downloads (a session's export) opened as a page, always hit the server.
    if (!path.startsWith('/api/auth/login') && !path.endsWith('/export') && request.mode !== 'navigate')
      event.respondWith(apiGet(event));
    return;
  }
  if (path.startsWith('/admin/') || path.startsWith('/auth/') || path.startsWith('/static/') || path.startsWith('/ws/'))
    return;
  if (request.mode === 'navigate') event.respondWith(page(request));
  else if (path.startsWith('/assets/') || /^\/[^/]+\.(png|svg|webmanifest)$/.test(path)) event.respondWith(asset(request));
});

// ---- Web Push (the server side lives in zerg_site/push/) ----

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : '' };
  }
  const title = data.title || 'Zerg';
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || '',
      tag: data.tag || undefined,
      icon: '/icon-192.png',
      badge: '/icon-192.png',
      data: { url: data.url || '/', kind: data.kind || '' },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || '/', self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(async (windows) => {
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) {
        // The SPA routes in place (main.tsx listens): no reload, no lost state.
        open.postMessage({ navigate: target.slice(self.location.origin.length) });
        return open.focus();
      }
      return self.clients.openWindow(target);
    }),
  );
});
