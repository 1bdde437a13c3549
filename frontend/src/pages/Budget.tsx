// Budgets in Settings: the daily and monthly spend above which schedules and spawns stop (GET/PUT
// /api/budget). Saved here, they win over [budget] in config.toml; "Use the config" goes back to it.
import { useEffect, useState } from 'preact/hooks';
import { api, errorText } from '../api';
import type { components } from '../api.gen';
import { Loading } from './parts';

type Budget = components['schemas']['BudgetOut'];

export function usd(n: number): string {
  return '$' + n.toFixed(2);
}

function amount(text: string): number | null {
  return text.trim() === '' ? null : Number(text.trim().replace(/^\$/, ''));
}

export function BudgetSettings() {
  const [b, setB] = useState<Budget | null>(null);
  const [daily, setDaily] = useState('');
  const [monthly, setMonthly] = useState('');
  const [err, setErr] = useState('');
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);

  const show = (r: Budget) => {
    setB(r);
    setDaily(r.daily.budget_usd === null ? '' : String(r.daily.budget_usd));
    setMonthly(r.monthly.budget_usd === null ? '' : String(r.monthly.budget_usd));
  };
  useEffect(() => {
    api<Budget>('/budget').then(show, (e) => setErr(errorText(e)));
  }, []);

  const save = async (body: object, what: string) => {
    setBusy(true);
    setErr('');
    setSaved('');
    try {
      show(await api<Budget>('/budget', { method: 'PUT', body }));
      setSaved(what);
    } catch (e) {
      setErr(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: Event) => {
    e.preventDefault();
    save({ daily_usd: amount(daily), monthly_usd: amount(monthly) }, 'Budgets saved.');
  };

  return (
    <>
      <h2>Budgets</h2>
      <p class="muted">
        Over the day's or the month's budget, schedules do not start, spawns through the API are refused and Oikos asks
        first. Running jobs go on. Leave a field empty for no budget.
      </p>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {!b && !err && <Loading />}
      {b && (
        <form class="stack" onSubmit={submit} data-testid="budget-form">
          <label>
            <span>Daily budget (USD)</span>
            <input inputMode="decimal" value={daily} placeholder="no budget" onInput={(e) => setDaily(e.currentTarget.value)}
              data-testid="budget-daily" />
          </label>
          <label>
            <span>Monthly budget (USD)</span>
            <input inputMode="decimal" value={monthly} placeholder="no budget"
              onInput={(e) => setMonthly(e.currentTarget.value)} data-testid="budget-monthly" />
          </label>
          <p data-testid="budget-status" class={b.over ? 'bad' : 'muted'}>
            Today {usd(b.daily.spent_usd)}, this month {usd(b.monthly.spent_usd)}
            {b.over ? `: ${b.reason}.` : '.'} {b.source === 'settings' ? 'Set here.' : 'From the config.'}
          </p>
          <div class="row">
            <button class="btn primary" type="submit" disabled={busy} data-testid="budget-save">
              Save budgets
            </button>
            {b.source === 'settings' && (
              <button class="btn" type="button" disabled={busy} onClick={() => save({ use_config: true }, 'Back to the config.')}>
                Use the config
              </button>
            )}
          </div>
          {saved && (
            <p role="status" data-testid="budget-saved">
              {saved}
            </p>
          )}
        </form>
      )}
    </>
  );
}
