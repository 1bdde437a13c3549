import { useEffect, useState } from 'preact/hooks';
import { api, ago, errorText, type PageProps, type Token } from '../api';

export function Settings({ me, logout }: PageProps) {
  const [err, setErr] = useState('');
  const out = () =>
    api('/auth/logout', { method: 'POST' }).then(logout, (e) => setErr(errorText(e)));
  return (
    <section class="page">
      <h1>Settings</h1>
      <Tokens />
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
        !err && <p class="muted">Loading…</p>
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
