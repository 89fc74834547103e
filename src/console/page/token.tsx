import { useState } from 'preact/hooks';
import { Board } from './board.js';
import { projectIdFromUrl, showProjectInUrl } from './url.js';
import { useFeed } from './use-feed.js';

const TOKEN_KEY = 'aiworkerFeedToken';

/**
 * A token in the address (a machine screen's bookmark) is moved to this tab's session storage and
 * out of the address bar and its history.
 */
function takeToken(): string | null {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (!fromUrl) return sessionStorage.getItem(TOKEN_KEY);
  sessionStorage.setItem(TOKEN_KEY, fromUrl);
  params.delete('token');
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  return fromUrl;
}

/** The watching board of machine screens, when sign-in with Gitea is not configured: the feed token opens it. */
export function TokenApp() {
  const [token, setToken] = useState(takeToken);
  const [refusal, setRefusal] = useState('');
  const [projectId, setProjectId] = useState(projectIdFromUrl);
  const feed = useFeed(token ? { kind: 'token', token } : null, projectId, (reason) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setRefusal(reason);
  });

  if (!token || !feed) {
    return (
      <TokenForm
        error={refusal}
        onToken={(value) => {
          sessionStorage.setItem(TOKEN_KEY, value);
          setRefusal('');
          setToken(value);
        }}
      />
    );
  }
  return (
    <Board
      feed={feed}
      projects={feed.projects}
      projectId={projectId}
      allowAll
      onProject={(id) => {
        showProjectInUrl(id);
        setProjectId(id);
      }}
      me={null}
      onSignOut={null}
      actions={null}
      readOnlyNote={null}
    />
  );
}

function TokenForm({ error, onToken }: { error: string; onToken(token: string): void }) {
  const [value, setValue] = useState('');
  return (
    <main class="sign-in">
      <h1>aiworker</h1>
      <form id="token-form" class="token-form" onSubmit={(e) => (e.preventDefault(), value.trim() && onToken(value.trim()))}>
        <label for="token-input">Feed token</label>
        <input id="token-input" type="password" autocomplete="off" required value={value} onInput={(e) => setValue(e.currentTarget.value)} autofocus />
        <button type="submit" class="primary">
          Connect
        </button>
        <p id="token-error" class="error" role="alert">
          {error}
        </p>
      </form>
    </main>
  );
}
