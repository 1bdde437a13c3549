import { render, type ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { api, errorText, onUnauthorized, ApiError, type Me, type PageProps } from './api';
import { OfflineBanner, forgetCachedData, registerServiceWorker } from './offline';
import { stream } from './events';
import { linkClick, navigate, usePath } from './router';
import { Login } from './pages/Login';
import { Dashboard } from './pages/Dashboard';
import { Chat } from './pages/Chat';
import { Commis } from './pages/Commis';
import { Timeline } from './pages/Timeline';
import { Forum } from './pages/Forum';
import { Schedules } from './pages/Schedules';
import { Settings } from './pages/Settings';
import { Spend } from './pages/Spend';
import { Attention, AttentionCount } from './pages/Attention';
import { DebugEvents } from './pages/DebugEvents';
import { Loading } from './pages/parts';

// [test id, path, label ("Long|Short": short one for the phone tab bar), icon path (24x24, stroked), page]
type Tab = [string, string, string, string, ComponentType<PageProps>, string?];
// The phone's tab bar: what the owner opens every day, five thumb-sized tabs and "More".
const BAR: Tab[] = [
  ['dashboard', '/', 'Dashboard|Home', 'M3 3h7v9H3zM14 3h7v5h-7zM14 12h7v9h-7zM3 16h7v5H3z', Dashboard],
  ['chat', '/chat', 'Chat', 'M4 4h16v12H9l-5 4z', Chat],
  ['commis', '/commis', 'Commis', 'M3 4h18v16H3zM7 9l3 3-3 3M13 15h4', Commis],
  ['timeline', '/timeline', 'Timeline', 'M6 3v18M10 6h10M10 12h7M10 18h9', Timeline],
  ['attention', '/attention', 'Needs attention|Inbox', 'M6 10a6 6 0 0 1 12 0v5l2 3H4l2-3zM10 21h4', Attention],
];
// One tap away under "More" on a phone (the /more page), in the sidebar on a wide screen.
const MORE: Tab[] = [
  ['forum', '/forum', 'Forum', 'M3 4h12v9H8l-5 4zM18 8h3v12l-4-3h-7v-2', Forum, 'Threads of the commis and agents'],
  ['schedules', '/schedules', 'Schedules|Schedule', 'M12 3a9 9 0 1 0 0 18 9 9 0 1 0 0-18M12 7v5l3 3', Schedules,
    'Jobs that run on a timer'],
  ['spend', '/spend', 'Spend', 'M12 3v18M16 7H10a3 3 0 0 0 0 6h4a3 3 0 0 1 0 6H7', Spend,
    'What the agents cost, per day'],
  ['settings', '/settings', 'Settings', 'M4 7h16M4 17h16M9 4v6M15 14v6', Settings,
    'Password, devices, model, notifications'],
];
const MORE_ICON = 'M5 12h.01M12 12h.01M19 12h.01';
// Pages no tab names: the "More" list itself and the raw event stream (linked from Settings).
const PAGES: Tab[] = [
  ['more', '/more', 'More', MORE_ICON, More],
  ['debug-events', '/debug/events', 'Live events', '', DebugEvents],
];

function Icon({ d }: { d: string }) {
  return (
    <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
      <path d={d} />
    </svg>
  );
}

function Shell({ me, logout }: PageProps) {
  const path = usePath();
  // "/commis/12" belongs to the Commis page, "/timeline/3" to the Timeline page.
  const under = (href: string) => href === path || (href !== '/' && path.startsWith(href + '/'));
  const item = [...BAR, ...MORE, ...PAGES].find((n) => under(n[1]));
  const Page = item ? item[4] : NotFound;
  const inMore = under('/more') || MORE.some((n) => under(n[1]));
  useEffect(() => {
    document.title = (item ? item[2].split('|')[0] + ' · ' : '') + 'Zerg';
  }, [item]);
  const tab = ([id, href, label, d]: Tab, cls?: string) => (
    <li key={id} class={cls}>
      <a href={href} onClick={linkClick} data-testid={'nav-' + id} aria-current={under(href) ? 'page' : undefined}>
        <Icon d={d} />
        {label.split('|').map((t, i, all) => (
          <span key={i} class={all.length > 1 ? (i ? 'short' : 'full') : undefined}>{t}</span>
        ))}
        {id === 'attention' && <AttentionCount />}
      </a>
    </li>
  );
  return (
    <div class="app">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <nav class="nav" aria-label="Main">
        <span class="brand" aria-hidden="true">
          Zerg
        </span>
        <ul>
          {BAR.map((t) => tab(t))}
          {MORE.map((t) => tab(t, 'wide'))}
          <li class="more">
            <a href="/more" onClick={linkClick} data-testid="nav-more" aria-current={inMore ? 'page' : undefined}>
              <Icon d={MORE_ICON} />
              <span>More</span>
            </a>
          </li>
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Page me={me} logout={logout} />
      </main>
    </div>
  );
}

/** The pages that do not fit the phone's tab bar, one tap away. */
function More() {
  return (
    <section class="page" data-testid="more">
      <h1>More</h1>
      <ul class="menu">
        {MORE.map(([id, href, label, d, , about]) => (
          <li key={id}>
            <a href={href} onClick={linkClick} data-testid={'more-' + id}>
              <Icon d={d} />
              <span>
                {label.split('|')[0]}
                <small>{about}</small>
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}

function NotFound() {
  return (
    <section class="page">
      <h1>Not found</h1>
      <p>
        There is no page here.{' '}
        <a href="/" onClick={linkClick}>
          Go to the dashboard
        </a>
        .
      </p>
    </section>
  );
}

function App() {
  // undefined: still asking the server; null: not logged in.
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [fatal, setFatal] = useState('');

  const check = () => {
    setFatal('');
    api<Me>('/auth/me', { quiet401: true })
      .then(setMe)
      .catch((e) => (e instanceof ApiError && e.status === 401 ? setMe(null) : setFatal(errorText(e))));
  };

  useEffect(() => {
    onUnauthorized(() => {
      forgetCachedData();
      stream.stop();
      setMe(null);
    });
    check();
  }, []);

  useEffect(() => {
    if (me) stream.start();
  }, [me]);

  const logout = () => {
    forgetCachedData();
    stream.stop();
    setMe(null);
    navigate('/');
  };

  if (fatal)
    return (
      <main class="center">
        <div class="card narrow">
          <h1>Zerg</h1>
          <p class="error" role="alert">
            {fatal}
          </p>
          <button class="btn" onClick={check}>
            Try again
          </button>
        </div>
      </main>
    );
  if (me === undefined)
    return (
      <main class="center" aria-busy="true">
        <Loading />
      </main>
    );
  if (me === null) return <Login onLogin={setMe} />;
  return <Shell me={me} logout={logout} />;
}

render(<App />, document.getElementById('app')!);
render(<OfflineBanner />, document.getElementById('offline')!);
registerServiceWorker(navigate);
