// A tiny history.pushState router: the current path is the state.
import { useEffect, useState } from 'preact/hooks';

const fns = new Set<() => void>();
const emit = () => fns.forEach((fn) => fn());
addEventListener('popstate', emit);

export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search + location.hash) return;
  const samePage = to.split('#')[0] === location.pathname + location.search;
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  if (!replace && !samePage) scrollTo(0, 0);
  emit();
}

/** The current pathname, without a trailing slash (except "/"). */
export function usePath(): string {
  const [, set] = useState(0);
  useEffect(() => {
    const fn = () => set((n) => n + 1);
    fns.add(fn);
    return () => fns.delete(fn);
  }, []);
  return location.pathname.replace(/(.)\/+$/, '$1');
}

/** onClick for same-origin <a href>: plain clicks navigate in-app, modified clicks behave normally. */
export function linkClick(e: MouseEvent): void {
  const a = e.currentTarget as HTMLAnchorElement;
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.origin !== location.origin || a.target) return;
  e.preventDefault();
  navigate(a.pathname + a.search + a.hash);
}
