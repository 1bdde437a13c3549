import { useEffect, useState } from 'preact/hooks';
import { api, ago, errorText, type PageProps, type PushStatus, type Token } from '../api';
import { linkClick } from '../router';
import { BudgetSettings } from './Budget';
import { Loading } from './parts';
import { ConnectDevice, ModelCheck, Password } from './SettingsParts';

export function Settings({ me, logout }: PageProps) {
  const [err, setErr] = useState('');
  const out = () =>
    api('/auth/logout', { method: 'POST' }).then(logout, (e) => setErr(errorText(e)));
  return (
    <section class="page">
      <h1>Settings</h1>
      <ConnectDevice />
      <ModelCheck />
      <Notifications />
      <BudgetSettings />
      <Password />
      <Tokens />
      <h2>Debugging</h2>
      <p>
        <a class="tap" href="/debug/events" onClick={linkClick} data-testid="debug-events-link">
          Live events: everything the server publishes
        </a>
      </p>
      <h2>Session</h2>
      <p>
        Logged in as <b>{me.username}</b>.
      </p>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      <button class="btn" onClick={out} data-testid="logout">
        Log out
      </button>
    </section>
  );
}

function Tokens() {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [name, setName] = useState('');
  const [secret, setSecret] = useState('');
  const [copied, setCopied] = useState(false);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);

  const load = () =>
    api<{ tokens: Token[] }>('/tokens').then(
      (r) => setTokens(r.tokens),
      (e) => setErr(errorText(e)),
    );
  useEffect(() => {
    load();
  }, []);

  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setErr('');
    try {
      await fn();
      await load();
    } catch (e) {
      setErr(errorText(e));
    }
    setBusy(false);
  };

  const create = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const r = await api<{ token: string }>('/tokens', { method: 'POST', body: { name: name.trim() } });
      setSecret(r.token);
      setCopied(false);
      setName('');
    });
  };

  // Two taps to revoke: "Revoke" then "Really revoke" (no blocking confirm() dialog).
  const [arm, setArm] = useState(0);
  const revoke = (t: Token) => {
    if (arm !== t.id) return setArm(t.id);
    setArm(0);
    run(() => api('/tokens/' + t.id, { method: 'DELETE' }));
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied(true);
    } catch {
      // No clipboard access (e.g. plain http): select the text for a manual copy.
      (document.getElementById('secret') as HTMLInputElement | null)?.select();
    }
  };

  return (
    <>
      <h2>API tokens</h2>
      <p class="muted">Tokens let scripts and other machines use the Zerg API on your behalf.</p>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {secret && (
        <div class="card secret" role="status" data-testid="token-secret">
          <label for="secret">Your new token</label>
          <div class="row">
            <input id="secret" readOnly value={secret} onFocus={(e) => e.currentTarget.select()} />
            <button class="btn" onClick={copy}>
              {copied ? 'Copied' : 'Copy'}
            </button>
          </div>
          <p class="small">Copy it now: it won't be shown again.</p>
          <button class="btn" onClick={() => setSecret('')}>
            Done
          </button>
        </div>
      )}
      <form class="row" onSubmit={create} data-testid="token-form">
        <label class="grow">
          <span>Token name</span>
          <input
            required
            maxLength={100}
            placeholder="e.g. laptop"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            data-testid="token-name"
          />
        </label>
        <button class="btn primary" type="submit" disabled={busy || !name.trim()}>
          Create token
        </button>
      </form>
      {tokens === null ? (
        !err && <Loading />
      ) : tokens.length === 0 ? (
        <p class="muted">No tokens yet.</p>
      ) : (
        <ul class="tokens" data-testid="tokens">
          {tokens.map((t) => (
            <li key={t.id} class={'card' + (t.revoked_at ? ' revoked' : '')} data-testid="token-row">
              <div class="grow">
                <b>{t.name}</b> <code>{t.prefix}…</code>
                <small>
                  {t.kind} · created {ago(t.created_at)} · last used {ago(t.last_used_at)}
                  {t.revoked_at && ' · revoked ' + ago(t.revoked_at)}
                </small>
              </div>
              {!t.revoked_at && (
                <button
                  class="btn danger"
                  onClick={() => revoke(t)}
                  disabled={busy}
                  data-testid="token-revoke"
                >
                  {arm === t.id ? 'Really revoke' : 'Revoke'}
                  <span class="sr"> {t.name}</span>
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

/** The VAPID key (base64url) as the bytes pushManager.subscribe wants. */
function keyBytes(b64: string): ArrayBuffer {
  const raw = atob(b64.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer as ArrayBuffer;
}

const pushSupported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

async function registration(): Promise<ServiceWorkerRegistration> {
  const timeout = new Promise<never>((_, no) =>
    setTimeout(() => no(new Error('The service worker is not running yet: reload the page and try again.')), 10000),
  );
  return Promise.race([navigator.serviceWorker.ready, timeout]);
}

function Notifications() {
  const [status, setStatus] = useState<PushStatus | null>(null);
  const [mine, setMine] = useState<PushSubscription | null>(null);
  const [err, setErr] = useState('');
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const supported = pushSupported();

  const load = async () => {
    setStatus(await api<PushStatus>('/push'));
    if (supported && navigator.serviceWorker.controller)
      setMine(await (await navigator.serviceWorker.ready).pushManager.getSubscription());
  };
  useEffect(() => {
    load().catch((e) => setErr(errorText(e)));
  }, []);

  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setErr('');
    setNote('');
    try {
      await fn();
      await load();
    } catch (e) {
      setErr(errorText(e));
    }
    setBusy(false);
  };

  const enable = () =>
    run(async () => {
      if ((await Notification.requestPermission()) !== 'granted')
        throw new Error('Notifications are blocked for this site: allow them in the browser settings.');
      const reg = await registration();
      const sub =
        (await reg.pushManager.getSubscription()) ||
        (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(status!.public_key) }));
      await api('/push/subscribe', { method: 'POST', body: sub.toJSON() });
      setNote('This device gets notifications now.');
    });
  const disable = () =>
    run(async () => {
      if (!mine) return;
      await api('/push/unsubscribe', { method: 'POST', body: { endpoint: mine.endpoint } });
      await mine.unsubscribe();
      setMine(null);
    });
  const test = () =>
    run(async () => {
      const r = await api<{ sent: number; subscriptions: number }>('/push/test', { method: 'POST' });
      setNote(`Sent to ${r.sent} of ${r.subscriptions} device(s).`);
    });
  const toggle = (kind: string, on: boolean) =>
    run(() => api('/push/preferences', { method: 'PUT', body: { [kind]: on } }));

  const here = mine && status?.subscriptions.some((s) => s.endpoint === mine.endpoint);
  return (
    <>
      <h2>Notifications</h2>
      <p class="muted">Get told on this device when a commis finishes or fails, or Oikos needs an answer.</p>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {note && <p role="status">{note}</p>}
      {!supported ? (
        <p class="muted" data-testid="push-unsupported">
          This browser cannot receive push notifications here (on iPhone, add Zerg to the home screen first; push
          needs https or localhost).
        </p>
      ) : (
        <div class="row">
          {here ? (
            <button class="btn" disabled={busy} onClick={disable} data-testid="push-disable">
              Turn off on this device
            </button>
          ) : (
            <button class="btn primary" disabled={busy || !status} onClick={enable} data-testid="push-enable">
              Notify this device
            </button>
          )}
          <button class="btn" disabled={busy || !status?.subscriptions.length} onClick={test} data-testid="push-test">
            Send a test
          </button>
        </div>
      )}
      {status && (
        <fieldset class="card" data-testid="push-kinds" style="margin-top:12px">
          <legend>Notify me when</legend>
          {Object.entries(status.kinds).map(([kind, label]) => (
            <label key={kind} class="row" style="min-height:44px;flex-wrap:nowrap">
              <input
                type="checkbox"
                style="width:22px;height:22px;flex:none"
                checked={status.preferences[kind]}
                disabled={busy}
                onChange={(e) => toggle(kind, e.currentTarget.checked)}
                data-testid={'push-kind-' + kind}
              />
              <span>{label}</span>
            </label>
          ))}
          <small>
            {status.subscriptions.length} device(s) subscribed
            {status.subscriptions.some((s) => s.last_error) && ' · the last push to one of them failed'}
          </small>
        </fieldset>
      )}
    </>
  );
}
