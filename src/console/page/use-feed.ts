import { useEffect, useState } from 'preact/hooks';
import { FeedStore, type FeedAuth, type FeedState } from './feed.js';

/** The live board of a project; a new project (or token) is a new connection. */
export function useFeed(auth: FeedAuth | null, projectId: number | null, onRefused: (reason: string) => void): FeedState | null {
  const [state, setState] = useState<FeedState | null>(null);
  const token = auth?.kind === 'token' ? auth.token : null;
  useEffect(() => {
    if (!auth) return;
    const store = new FeedStore(auth, projectId, onRefused);
    setState(store.current);
    store.listen(() => setState(store.current));
    store.start();
    return () => store.close();
    // The auth object is rebuilt on each render; what identifies the connection is its kind and token.
  }, [auth?.kind, token, projectId]);
  return state;
}

/** The current time, renewed every `everyMs`, so "in column for" stays true while the page is open. */
export function useNow(everyMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}
