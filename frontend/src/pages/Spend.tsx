// Spend: the last 30 days per day as a chart stacked by source (plain SVG), the table by model,
// project or device below it, and the CSV. Figures with an unknown price read "≥ $x".
import { useEffect, useState } from 'preact/hooks';
import { api, errorText, num, qs } from '../api';
import type { components } from '../api.gen';
import { Loading } from './parts';

type SpendDoc = components['schemas']['SpendOut'];
type Row = components['schemas']['SpendRowOut'];
type Budget = components['schemas']['BudgetOut'];

const SOURCES = ['claude-code', 'codex', 'gemini', 'oikos', 'commis'];
const LABEL: Record<string, string> = {
  'claude-code': 'Claude Code',
  codex: 'Codex',
  gemini: 'Gemini',
  oikos: 'Oikos',
  commis: 'Commis',
};
const TABLES: [string, string][] = [
  ['model', 'Model'],
  ['project', 'Project'],
  ['device', 'Device'],
];
const DAYS = 30;

function iso(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The last 30 days, oldest first, in the browser's time zone: the owner's phone is where the owner is
 * (the server counts days in `[server] time_zone`; set it to the same zone). */
function lastDays(): string[] {
  const out: string[] = [];
  const today = new Date();
  for (let i = DAYS - 1; i >= 0; i--) out.push(iso(new Date(today.getFullYear(), today.getMonth(), today.getDate() - i)));
  return out;
}

export function money(cost: number, partial: boolean): string {
  const text = cost < 0.01 && cost > 0 ? '<$0.01' : '$' + cost.toFixed(2);
  return partial ? '≥ ' + text.replace('<', '') : text;
}

function Chart({ days, bySource, daily }: { days: string[]; bySource: Record<string, SpendDoc | undefined>; daily?: number | null }) {
  const W = 300;
  const H = 140;
  const slot = W / days.length;
  const totals = days.map((d) =>
    SOURCES.reduce((sum, s) => sum + (bySource[s]?.rows.find((r) => r.key === d)?.cost || 0), 0),
  );
  const top = Math.max(...totals, daily || 0, 0.01);
  const budgetY = daily ? H - (daily / top) * (H - 4) : null;
  const bars: preact.JSX.Element[] = [];
  days.forEach((d, i) => {
    let y = H;
    for (const s of SOURCES) {
      const row = bySource[s]?.rows.find((r) => r.key === d);
      // a cost that is only partly known still shows: at least a sliver, labelled "≥ $x"
      if (!row || (row.cost <= 0 && !row.partial)) continue;
      const h = Math.max((row.cost / top) * (H - 4), row.partial ? 2 : 0.5);
      y -= h;
      bars.push(
        <rect key={d + s} class={'bar src-' + s} x={i * slot + 1} y={y} width={Math.max(slot - 2, 1)} height={h}
          data-testid="spend-bar" aria-label={`${d}, ${LABEL[s]}: ${money(row.cost, row.partial)}`}>
          <title>{`${d}, ${LABEL[s]}: ${money(row.cost, row.partial)}`}</title>
        </rect>,
      );
    }
  });
  return (
    <figure class="spend-chart card">
      <svg viewBox={`0 0 ${W} ${H + 14}`} role="img" aria-labelledby="spend-chart-title" data-testid="spend-chart">
        <title id="spend-chart-title">{`Spend per day over the last ${DAYS} days, stacked by source; the highest day ${money(top, false)}`}</title>
        <line class="axis" x1="0" y1={H + 0.5} x2={W} y2={H + 0.5} />
        {bars}
        {budgetY !== null && (
          <g data-testid="spend-budget-line">
            <line class="budget" x1="0" y1={budgetY} x2={W} y2={budgetY} />
            <text class="tick" x="2" y={Math.max(budgetY - 2, 8)}>{`daily budget ${money(daily!, false)}`}</text>
          </g>
        )}
        <text class="tick" x="0" y={H + 12}>{days[0].slice(5)}</text>
        <text class="tick end" x={W} y={H + 12}>{days[days.length - 1].slice(5)}</text>
      </svg>
      <figcaption>
        <ul class="legend">
          {SOURCES.filter((s) => bySource[s]?.rows.length).map((s) => (
            <li key={s}>
              <svg viewBox="0 0 10 10" width="10" height="10" aria-hidden="true">
                <rect class={'src-' + s} width="10" height="10" />
              </svg>
              {LABEL[s]} {money(bySource[s]!.total, bySource[s]!.partial)}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}

function Table({ by, doc }: { by: string; doc: SpendDoc }) {
  const name = TABLES.find((t) => t[0] === by)![1];
  return (
    <div class="table-wrap">
      <table class="spend-table" data-testid="spend-table">
        <caption class="sr">{`Spend by ${name.toLowerCase()}`}</caption>
        <thead>
          <tr>
            <th scope="col">{name}</th>
            <th scope="col" class="num">Cost</th>
            <th scope="col" class="num">Tokens in / out</th>
            <th scope="col" class="num">Runs</th>
          </tr>
        </thead>
        <tbody>
          {doc.rows.map((r: Row) => (
            <tr key={r.key}>
              <th scope="row">{r.key || '(unknown)'}</th>
              <td class="num">{money(r.cost, r.partial)}</td>
              <td class="num">{`${num(r.input_tokens)} / ${num(r.output_tokens)}`}</td>
              <td class="num">{r.sessions}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Spend() {
  const days = lastDays();
  const range = { from: days[0], to: days[days.length - 1] };
  const [bySource, setBySource] = useState<Record<string, SpendDoc | undefined> | null>(null);
  const [by, setBy] = useState('model');
  // the table with the grouping it was fetched for: a click shows the new header only with its rows
  const [table, setTable] = useState<{ by: string; doc: SpendDoc } | null>(null);
  const [err, setErr] = useState('');
  const [budget, setBudget] = useState<Budget | null>(null);

  useEffect(() => {
    api<Budget>('/budget').then(setBudget, () => setBudget(null)); // the chart is drawn without it
    Promise.all(SOURCES.map((s) => api<SpendDoc>('/spend' + qs({ ...range, by: 'day', source: s })))).then(
      (docs) => setBySource(Object.fromEntries(SOURCES.map((s, i) => [s, docs[i]]))),
      (e) => setErr(errorText(e)),
    );
  }, []);
  useEffect(() => {
    setTable(null);
    api<SpendDoc>('/spend' + qs({ ...range, by })).then((doc) => setTable({ by, doc }), (e) => setErr(errorText(e)));
  }, [by]);

  const total = bySource ? SOURCES.reduce((t, s) => t + (bySource[s]?.total || 0), 0) : 0;
  const partial = bySource ? SOURCES.some((s) => bySource[s]?.partial) : false;
  return (
    <section class="page" data-testid="spend">
      <h1>Spend</h1>
      {err && (
        <p class="error" role="alert">
          {err}
        </p>
      )}
      {!bySource && !err && <Loading />}
      {bySource && (
        <>
          <p data-testid="spend-total">
            Last {DAYS} days: <b>{money(total, partial)}</b>
            <small>At list prices. “≥” marks figures with tokens of a model whose price is unknown.</small>
          </p>
          {budget?.daily.budget_usd && (
            <p data-testid="spend-budget">
              Today {money(budget.daily.spent_usd, budget.daily.partial)} of the daily budget{' '}
              {money(budget.daily.budget_usd, false)}
              {budget.daily.over && <b class="bad"> (over)</b>}
            </p>
          )}
          <Chart days={days} bySource={bySource} daily={budget?.daily.budget_usd} />
        </>
      )}
      <div class="seg" role="group" aria-label="Table by">
        {TABLES.map(([key, label]) => (
          <button key={key} class="btn" aria-pressed={by === key} onClick={() => setBy(key)} data-testid={'spend-by-' + key}>
            {label}
          </button>
        ))}
      </div>
      {table && table.by === by ? <Table by={table.by} doc={table.doc} /> : !err && <Loading />}
      <p>
        <a href={'/api/spend' + qs({ ...range, by, format: 'csv' })} download data-testid="spend-csv">
          Download CSV (by {by}, last {DAYS} days)
        </a>
      </p>
    </section>
  );
}
