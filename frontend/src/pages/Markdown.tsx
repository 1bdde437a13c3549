// Markdown the server rendered and sanitized (zerg_site/markdown.py: no raw HTML, only http(s),
// mailto and in-app links), so the SPA ships no Markdown library. Here only what a page needs on
// top: code blocks scroll sideways (reachable by keyboard) with a Copy button, in-app links
// navigate in place, and links elsewhere open in a new tab (rel="noopener noreferrer" from the server).
import { useLayoutEffect, useRef } from 'preact/hooks';
import { navigate } from '../router';
import './markdown.css';

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (plain http on a LAN address is not a secure context): select and copy.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

/** Wrap each <pre> with a Copy button once; mark tables scrollable; send outside links to a new tab. */
function enhance(el: HTMLElement): void {
  el.querySelectorAll('pre').forEach((pre) => {
    pre.setAttribute('tabindex', '0');
    if (pre.parentElement?.classList.contains('code')) return;
    const wrap = document.createElement('div');
    wrap.className = 'code';
    pre.replaceWith(wrap);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'btn copy';
    button.textContent = 'Copy';
    button.dataset.testid = 'copy-code';
    wrap.append(button, pre); // above the block, never over its text
  });
  el.querySelectorAll('table').forEach((t) => t.setAttribute('tabindex', '0'));
  el.querySelectorAll<HTMLAnchorElement>('a[href]').forEach((a) => {
    if (a.origin !== location.origin) a.target = '_blank';
  });
}

function onClick(e: MouseEvent): void {
  const target = e.target as HTMLElement;
  const button = target.closest<HTMLButtonElement>('button.copy');
  if (button) {
    const code = button.parentElement?.querySelector('pre')?.textContent || '';
    copy(code).then((ok) => {
      button.textContent = ok ? 'Copied' : 'Select the code to copy it';
      setTimeout(() => (button.textContent = 'Copy'), 2000);
    });
    return;
  }
  const a = target.closest<HTMLAnchorElement>('a[href]');
  if (!a || a.target || a.origin !== location.origin) return;
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.pathname + a.search + a.hash);
}

export function Markdown({ html, cls = '' }: { html: string; cls?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    if (ref.current) enhance(ref.current);
  }, [html]);
  return <div ref={ref} class={('md ' + cls).trim()} onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
}
