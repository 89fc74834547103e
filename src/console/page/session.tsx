import { useEffect, useMemo, useState } from 'preact/hooks';
import { readableProjects, sessionActions, signOut, whoAmI } from './api.js';
import { Board } from './board.js';
import { projectIdFromUrl, showProjectInUrl } from './url.js';
import { useFeed } from './use-feed.js';
import type { Me, Project } from './types.js';

/** The board for people who sign in with their Gitea account. */
export function SessionApp() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [failure, setFailure] = useState('');
  const check = () => whoAmI().then(setMe, (err: Error) => setFailure(err.message));
  useEffect(() => void check(), []);

  if (failure) return <Message title="The board could not start" text={failure} />;
  if (me === undefined) return <Message title="aiworker" text="Loading…" />;
  if (me === null) return <SignIn />;
  return <SessionBoard me={me} onSessionLost={check} onSignedOut={() => setMe(null)} />;
}

function SignIn() {
  const signIn = () => {
    const next = `${location.pathname}${location.search}`;
    location.assign(`/auth/login?next=${encodeURIComponent(next)}`);
  };
  return (
    <main class="sign-in">
      <h1>aiworker</h1>
      <p>Direct the agents: create tasks, answer their questions, merge approved work to staging.</p>
      <button type="button" class="primary" onClick={signIn}>
        Sign in with Gitea
      </button>
    </main>
  );
}

function SessionBoard({ me, onSessionLost, onSignedOut }: { me: Me; onSessionLost(): void; onSignedOut(): void }) {
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [wanted, setWanted] = useState(projectIdFromUrl);
  const [failure, setFailure] = useState('');
  useEffect(() => {
    readableProjects().then(setProjects, (err: Error) => setFailure(err.message));
  }, []);

  const project = projects?.find((p) => p.id === wanted) ?? projects?.[0] ?? null;
  useEffect(() => {
    if (project) showProjectInUrl(project.id);
  }, [project?.id]);
  // A refused socket means the session ended (signed out elsewhere, expired): ask who we are again.
  const feed = useFeed(project ? { kind: 'session' } : null, project?.id ?? null, onSessionLost);
  const actions = useMemo(() => (project?.permissions?.write ? sessionActions(me.csrfToken) : null), [project?.permissions?.write, me.csrfToken]);

  const leave = async () => {
    try {
      await signOut(me.csrfToken);
      onSignedOut();
    } catch (err) {
      setFailure(`Sign-out failed: ${(err as Error).message}`);
    }
  };

  if (failure) return <Message title="The board could not load" text={failure} />;
  if (!projects) return <Message title="aiworker" text="Loading projects…" />;
  if (!project || !feed) {
    return (
      <Message title="No projects to show" text={`${me.login} cannot read any project's repository in Gitea yet.`}>
        <button type="button" class="secondary" onClick={leave}>
          Sign out
        </button>
      </Message>
    );
  }
  return (
    <Board
      feed={feed}
      projects={projects}
      projectId={project.id}
      allowAll={false}
      onProject={(id) => id !== null && setWanted(id)}
      me={me}
      onSignOut={leave}
      actions={actions}
      readOnlyNote={actions ? null : `You can read ${project.repo}. Creating tasks, answering agents, merging and promoting need write permission on it in Gitea.`}
    />
  );
}

export function Message({ title, text, children }: { title: string; text: string; children?: preact.ComponentChildren }) {
  return (
    <main class="message">
      <h1>{title}</h1>
      <p>{text}</p>
      {children}
    </main>
  );
}
