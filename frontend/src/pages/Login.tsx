import { useState } from 'preact/hooks';
import { api, errorText, type Me } from '../api';

// Shown at whatever path was requested; after login the app renders that path.
export function Login({ onLogin }: { onLogin: (me: Me) => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onLogin(await api<Me>('/auth/login', { method: 'POST', body: { password }, quiet401: true }));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <main class="center">
      <form class="card narrow" onSubmit={submit} data-testid="login-form">
        <h1 class="logo">
          <img src="/icon.svg" alt="" width="40" height="40" /> Zerg
        </h1>
        {/* For password managers: there is a single user. */}
        <input type="text" name="username" autocomplete="username" value="owner" readOnly hidden />
        <label for="password">Password</label>
        <input
          id="password"
          type="password"
          autocomplete="current-password"
          required
          autoFocus
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          data-testid="login-password"
        />
        {error && (
          <p class="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button class="btn primary" type="submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="muted small">
          No password at hand? Open the one-time login link (or scan the QR code) that <code>zerg serve</code>{' '}
          printed in its terminal, or run <code>zerg link</code> on the server to print a new one.
        </p>
      </form>
    </main>
  );
}
