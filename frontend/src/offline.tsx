// The installable-app side of the SPA: the service worker's registration, and the banner that says
// the network is gone (what shows then comes from the worker's cache; actions are refused, see api.ts).
import { useEffect, useState } from 'preact/hooks';
import { onCachedData } from './api';

const API_CACHE = 'zerg-api-v1'; // the name in public/sw.js

/** Register /sw.js (scope /); a notification tap arrives as {navigate: path} and routes in place. */
export function registerServiceWorker(navigate: (to: string) => void): void {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (e) => {
    const to = e.data && e.data.navigate;
    if (typeof to === 'string' && to.startsWith('/')) navigate(to);
  });
  const go = () => navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => undefined);
  if (document.readyState === 'complete') go();
  else addEventListener('load', go, { once: true });
}

/** The session ended: the cached API answers belong to it, drop them. */
export function forgetCachedData(): void {
  if ('caches' in window) caches.delete(API_CACHE).catch(() => undefined);
}

export function OfflineBanner() {
  const [online, setOnline] = useState(navigator.onLine);
  const [cached, setCached] = useState(false);
  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    addEventListener('online', up);
    addEventListener('offline', down);
    onCachedData(setCached);
    return () => {
      removeEventListener('online', up);
      removeEventListener('offline', down);
    };
  }, []);
  if (online && !cached) return null;
  return (
    <div class="offline-banner" role="status" data-testid="offline-banner">
      <b>Offline.</b> Showing what this device saw last; actions are not sent.
    </div>
  );
}
