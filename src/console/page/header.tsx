import type { FeedState } from './feed.js';
import type { Me, Project } from './types.js';

export interface HeaderProps {
  /** The projects the person (or the feed token) can read. */
  projects: Project[];
  /** The chosen project; null is every project (the feed-token board only). */
  projectId: number | null;
  /** Whether "All projects" is offered (the feed-token board). */
  allowAll: boolean;
  onProject(projectId: number | null): void;
  me: Me | null;
  onSignOut: (() => void) | null;
}

const ALL = 'all';

/** The project switcher, the connection's state (a live region) and who is signed in. */
export function Header({ projects, projectId, allowAll, onProject, me, onSignOut, connection }: HeaderProps & { connection: FeedState['connection'] }) {
  return (
    <header class="top">
      <h1 class="brand">aiworker</h1>
      <div class="project-picker">
        <label for="project">Project</label>
        <select id="project" value={projectId === null ? ALL : String(projectId)} onChange={(e) => onProject(e.currentTarget.value === ALL ? null : Number(e.currentTarget.value))}>
          {allowAll && <option value={ALL}>All projects</option>}
          {projects.map((p) => (
            <option key={p.id} value={String(p.id)}>
              {p.name} ({p.repo})
            </option>
          ))}
        </select>
      </div>
      <p class={`conn conn-${connection.state}`} id="connection" data-state={connection.state} role="status" aria-live="polite">
        <span class="visually-hidden">Connection: </span>
        {connection.text}
      </p>
      {me && (
        <div class="me">
          {me.avatarUrl && <img class="avatar" src={me.avatarUrl} alt="" width={24} height={24} />}
          <span class="login" title={me.fullName || me.login}>
            {me.login}
          </span>
          {onSignOut && (
            <button type="button" class="secondary" onClick={onSignOut}>
              Sign out
            </button>
          )}
        </div>
      )}
    </header>
  );
}
