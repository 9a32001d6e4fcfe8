import { useEffect, useState } from 'preact/hooks';
import { auth } from './api.js';
import { RunPage } from './run-page.js';
import { DeadLettersPage, RunsPage } from './runs-page.js';
import { StartPage } from './start-page.js';
import { Link, useLocation } from './ui.js';

const runPath = /^\/runs\/([^/]+)\/?$/;

/** The page shell: a skip link, the header with the main navigation, the token form when needed, the page. */
export function App() {
  const { path, search } = useLocation();
  const [needsToken, setNeedsToken] = useState(false);
  // Bumped when a token is saved: remounts the page so it reloads with the token.
  const [generation, setGeneration] = useState(0);
  useEffect(() => auth.onRequired(() => setNeedsToken(true)), []);

  let page;
  let title = 'Runs';
  const run = runPath.exec(path);
  if (run) {
    page = <RunPage key={run[1]} id={decodeURIComponent(run[1]!)} />;
    title = `Run ${run[1]!.slice(-8)}`;
  } else if (path === '/new') {
    page = <StartPage search={search} />;
    title = 'Start a run';
  } else if (path === '/failed') {
    page = <DeadLettersPage />;
    title = 'Dead letters';
  } else if (path === '/' || path === '/runs' || path === '/runs/') {
    page = <RunsPage search={search} />;
  } else {
    title = 'Not found';
    page = (
      <section class="not-found">
        <h1>Page not found</h1>
        <p>
          <Link href="/">Back to all runs</Link>
        </p>
      </section>
    );
  }
  useEffect(() => {
    document.title = `${title} · Runstream`;
  }, [title]);

  const current = (href: string) => (href === '/' ? path === '/' || path.startsWith('/runs') : path === href) ? 'page' : undefined;

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand">
          <span class="brand-mark" aria-hidden="true" />
          Runstream
        </Link>
        <nav aria-label="Main">
          <ul>
            <li>
              <Link href="/" aria-current={current('/')}>
                Runs
              </Link>
            </li>
            <li>
              <Link href="/failed" aria-current={current('/failed')}>
                Dead letters
              </Link>
            </li>
            <li>
              <Link href="/new" aria-current={current('/new')}>
                Start a run
              </Link>
            </li>
          </ul>
        </nav>
      </header>
      {needsToken ? (
        <TokenForm
          onSaved={() => {
            setNeedsToken(false);
            setGeneration((n) => n + 1);
          }}
        />
      ) : null}
      <main id="main" tabIndex={-1} key={generation}>
        {page}
      </main>
    </>
  );
}

/** Shown when the API answers 401: the server has tokens configured, so the page needs one. */
function TokenForm({ onSaved }: { onSaved: () => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="token-form"
      onSubmit={(event) => {
        event.preventDefault();
        auth.set(value.trim() || null);
        onSaved();
      }}
    >
      <p>
        <strong>This server requires an API token.</strong> It is kept for this tab only.
      </p>
      <label for="api-token">API token</label>
      <input id="api-token" type="password" autoComplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} required />
      <button type="submit" class="button primary">
        Use token
      </button>
    </form>
  );
}
