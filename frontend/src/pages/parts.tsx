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

/**
 * Progress while something loads: a spinner and the words, announced to screen readers. A CSS delay
 * keeps it invisible for the first 300 ms, so a fast answer never flickers (styles.css, .loading).
 */
export function Loading({ what = 'Loading…' }: { what?: string }) {
  return (
    <p class="loading muted" role="status" data-testid="loading">
      <span class="spin" aria-hidden="true" />
      {what}
    </p>
  );
}

/** The page before its data arrives: a way back, and the error or the spinner. */
export function Pending({ back, err }: { back: ComponentChildren; err: string }) {
  return (
    <section class="page">
      {back}
      {err ? (
        <p class="error" role="alert">
          {err}
        </p>
      ) : (
        <Loading />
      )}
    </section>
  );
}
