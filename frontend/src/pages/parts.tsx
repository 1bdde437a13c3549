// Small pieces shared by the detail pages (Job, Session).
import type { ComponentChildren } from 'preact';
import { linkClick } from '../router';

export function Back({ href, children }: { href: string; children: ComponentChildren }) {
  return (
    <a href={href} onClick={linkClick} class="back">
      ← {children}
    </a>
  );
}

export function Fact({ k, v }: { k: string; v: any }) {
  return (
    <div>
      <dt>{k}</dt>
      <dd>{v}</dd>
    </div>
  );
}

/** The page before its data arrives: a way back, and the error or "Loading…". */
export function Pending({ back, err }: { back: ComponentChildren; err: string }) {
  return (
    <section class="page">
      {back}
      {err ? (
        <p class="error" role="alert">
          {err}
        </p>
      ) : (
        <p class="muted">Loading…</p>
      )}
    </section>
  );
}
