import type { Me, Project } from './types.js';

/** A refused or failed REST call, with the server's own message (which names a missing permission). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * REST with the person's session cookie. Unsafe calls carry the CSRF token the session was given;
 * the cookie itself is never readable here (HttpOnly).
 */
export async function call<T>(method: string, path: string, csrfToken: string | null, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrfToken && method !== 'GET') headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page: the status says enough.
  }
  if (!res.ok) {
    const message = (parsed as { error?: { message?: string } } | null)?.error?.message ?? `${method} ${path} answered ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return parsed as T;
}

/** The signed-in person, or null when there is no session. */
export async function whoAmI(): Promise<Me | null> {
  try {
    return await call<Me>('GET', '/api/me', null);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

const PROJECT_PAGE = 1000;

/** The projects the person can read (the server leaves the others out). */
export async function readableProjects(): Promise<Project[]> {
  const all: Project[] = [];
  for (let offset = 0; ; offset += PROJECT_PAGE) {
    const page = await call<{ projects: Project[]; total: number }>('GET', `/api/projects?limit=${PROJECT_PAGE}&offset=${offset}`, null);
    all.push(...page.projects);
    if (page.projects.length < PROJECT_PAGE || all.length >= page.total) return all;
  }
}

/** What a person with write permission does from the board. */
export interface BoardActions {
  createTask(input: { projectId: number; title: string; description: string }): Promise<void>;
  respond(taskId: number, response: string): Promise<void>;
  merge(taskIds: number[]): Promise<{ jobId: string | number }>;
  promote(projectId: number): Promise<{ jobId: string | number }>;
}

export function sessionActions(csrfToken: string): BoardActions {
  return {
    async createTask({ projectId, title, description }) {
      await call('POST', '/api/tasks', csrfToken, description ? { projectId, title, description } : { projectId, title });
    },
    async respond(taskId, response) {
      await call('POST', `/api/tasks/${taskId}/respond`, csrfToken, { response });
    },
    merge: (taskIds) => call('POST', '/api/merge', csrfToken, { taskIds }),
    promote: (projectId) => call('POST', `/api/projects/${projectId}/promote`, csrfToken),
  };
}

/** Ends the session; the page then shows the sign-in button again. */
export async function signOut(csrfToken: string): Promise<void> {
  await call('POST', '/auth/logout', csrfToken);
}
