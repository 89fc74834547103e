export const TASK_STATES = [
  'backlog',
  'in_progress',
  'needs_input',
  'ready_to_test',
  'approved',
  'staging',
  'production',
  'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** Who asks for a transition: only Gitea's merge facts may set staging or production. */
export type TransitionSource = 'rest' | 'agent' | 'gitea' | 'system';

const OPEN_STATES: TaskState[] = ['backlog', 'in_progress', 'needs_input', 'ready_to_test', 'approved'];

/** SPEC §2, row by row: target state -> the states it may be entered from. */
const ALLOWED_FROM: Record<TaskState, readonly TaskState[]> = {
  backlog: ['in_progress', 'cancelled'],
  in_progress: ['backlog', 'needs_input', 'ready_to_test', 'approved'],
  needs_input: ['in_progress'],
  ready_to_test: ['in_progress'],
  approved: ['in_progress', 'ready_to_test'],
  staging: OPEN_STATES,
  production: [...OPEN_STATES, 'staging'],
  cancelled: OPEN_STATES,
};

const FACT_ONLY: ReadonlySet<TaskState> = new Set(['staging', 'production']);

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === 'string' && (TASK_STATES as readonly string[]).includes(value);
}

/** Why a move is refused, or null when it is allowed. A move to the current state is not a move. */
export function refusal(from: TaskState, to: TaskState, source: TransitionSource): string | null {
  if (FACT_ONLY.has(to) && source !== 'gitea') {
    return `only Gitea's merge of the pull request moves a task to ${to}`;
  }
  if (!ALLOWED_FROM[to].includes(from)) {
    const allowed = ALLOWED_FROM[to];
    return `a task in ${from} cannot move to ${to} (${to} is entered from ${allowed.join(', ')})`;
  }
  return null;
}

