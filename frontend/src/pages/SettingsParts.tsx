// Settings' sections for the first ten minutes (issue 20): connect a laptop with a device token, the
// model in use and whether it answers, and the password (which signs the other browsers out).
import { useEffect, useState } from 'preact/hooks';
import { api, errorText } from '../api';
import type { components } from '../api.gen';
import { Loading } from './parts';

type S = components['schemas'];

/** Copy to the clipboard; without access (plain http) select the element's text for a manual copy. */
async function copyText(text: string, id: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const el = document.getElementById(id);
    if (el) getSelection()?.selectAllChildren(el);
    return false;
  }
}

export function ConnectDevice() {
  const [name, setName] = useState('');
  const [made, setMade] = useState<S['DeviceTokenOut'] | null>(null);
  const [copied, setCopied] = useState(false);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    try {
      setMade(await api<S['DeviceTokenOut']>('/tokens/device', { method: 'POST', body: { name: name.trim() } }));
      setCopied(false);
      setName('');
    } catch (x) {
      setErr(errorText(x));
    }
    setBusy(false);
  };

  return (
    <>
      <h2 id="devices">Connect a laptop</h2>
      <p class="muted">
        A device token lets a laptop's Shipper send its Claude Code, Codex and Gemini sessions here, and nothing
        else.
      </p>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {made && (
        <div class="card paste secret" role="status" data-testid="device-lines">
          <b>Paste this on {made.name}:</b>
          <pre class="block" id="device-command" data-testid="device-command">
            {made.command}
          </pre>
          <div class="row">
            <button class="btn" onClick={async () => setCopied(await copyText(made.command, 'device-command'))}>
              {copied ? 'Copied' : 'Copy'}
            </button>
            <button class="btn" onClick={() => setMade(null)}>
              Done
            </button>
          </div>
          <p class="small">
            It needs Zerg installed there. <code>zerg ship --install</code> prints the one command that starts the
            Shipper at login. The token is shown only now; revoke it below under API tokens.
          </p>
        </div>
      )}
      <form class="row" onSubmit={create} data-testid="device-form">
        <label class="grow">
          <span>Device name</span>
          <input
            required
            maxLength={100}
            placeholder="e.g. laptop"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            data-testid="device-name"
          />
        </label>
        <button class="btn primary" type="submit" disabled={busy || !name.trim()}>
          Create device token
        </button>
      </form>
    </>
  );
}

export function ModelCheck() {
  const [m, setM] = useState<S['ModelOut'] | null>(null);
  const [result, setResult] = useState<S['ModelTestOut'] | null>(null);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api<S['ModelOut']>('/model').then(setM, (e) => setErr(errorText(e)));
  }, []);

  const test = async () => {
    setBusy(true);
    setErr('');
    setResult(null);
    try {
      setResult(await api<S['ModelTestOut']>('/model/test', { method: 'POST' }));
    } catch (e) {
      setErr(errorText(e));
    }
    setBusy(false);
  };

  return (
    <>
      <h2>Model</h2>
      {!m && !err && <Loading />}
      {m && !m.configured && (
        <p class="muted" data-testid="model-none">
          {m.fix}
        </p>
      )}
      {m && m.configured && (
        <div class="card stack" data-testid="model">
          <span>
            <b>{m.model}</b> through {m.provider === 'openai' ? 'an OpenAI-compatible server' : 'Anthropic'}
            {m.base_url && <small class="clamp1">{m.base_url}</small>}
          </span>
          <div class="row">
            <button class="btn" onClick={test} disabled={busy} data-testid="model-test">
              {busy ? 'Asking…' : 'Test'}
            </button>
            {busy && <Loading what="Waiting for the model…" />}
          </div>
          {result && (
            <p class={result.ok ? 'ok' : 'error'} role={result.ok ? 'status' : 'alert'} data-testid="model-result">
              {result.ok ? `It answers: “${result.reply || '(an empty reply)'}”` : result.detail}
            </p>
          )}
        </div>
      )}
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
    </>
  );
}

export function Password() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [err, setErr] = useState('');
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setErr('');
    setDone(false);
    if (next !== again) return setErr('The two new passwords differ; nothing changed.');
    setBusy(true);
    try {
      await api('/auth/password', { method: 'POST', body: { current, new: next } });
      setDone(true);
      setCurrent('');
      setNext('');
      setAgain('');
    } catch (x) {
      setErr(errorText(x));
    }
    setBusy(false);
  };

  return (
    <>
      <h2>Password</h2>
      <p class="muted">Changing it signs out every other browser and phone; this one stays logged in.</p>
      {err && (
        <p class="error" role="alert" data-testid="password-error">
          {err}
        </p>
      )}
      {done && (
        <p class="ok" role="status" data-testid="password-done">
          Password changed. Every other browser is signed out.
        </p>
      )}
      <form class="stack" onSubmit={submit} data-testid="password-form">
        <label>
          <span>Current password</span>
          <input
            type="password"
            autocomplete="current-password"
            value={current}
            onInput={(e) => setCurrent(e.currentTarget.value)}
            data-testid="password-current"
          />
        </label>
        <label>
          <span>New password</span>
          <input
            type="password"
            autocomplete="new-password"
            required
            value={next}
            onInput={(e) => setNext(e.currentTarget.value)}
            data-testid="password-new"
          />
        </label>
        <label>
          <span>New password again</span>
          <input
            type="password"
            autocomplete="new-password"
            required
            value={again}
            onInput={(e) => setAgain(e.currentTarget.value)}
            data-testid="password-again"
          />
        </label>
        <button class="btn primary" type="submit" disabled={busy || !next}>
          Change password
        </button>
      </form>
    </>
  );
}
