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

/** Who asks for a transition (REST, an agent, a Gitea event, aiworker itself). */
export type TransitionSource = 'rest' | 'agent' | 'gitea' | 'system';

/** How, where SPEC §2's "by" column tells requests of one source apart. */
export type TransitionVia = 'claim' | 'question' | 'answer';

/** Who asks for a move, with what the rules need to know about the task. */
export interface Mover {
  source: TransitionSource;
  via?: TransitionVia;
  /** Whether the task's project deploys previews (asked only for moves to ready_to_test). */
  previews?: boolean;
}

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

interface Movers {
  /** `source` for its plain requests, `source:via` for those made that way. */
  who: readonly string[];
  /** The row's "by", for refusals. */
  by: string;
}

const APPROVERS: Movers = { who: ['gitea', 'rest'], by: 'a review approval, /approve or REST' };

/**
 * SPEC §2's "by" column: who may make each move into the other states; moves into staging,
 * production and cancelled are governed by their target alone (BY_TARGET): only Gitea's merge
 * facts set staging or production.
 */
const MOVERS: Partial<Record<`${TaskState}>${TaskState}`, Movers>> = {
  'backlog>in_progress': { who: ['agent:claim', 'gitea', 'rest'], by: 'a claim (get_next_task), the first push to the task branch or REST' },
  'in_progress>backlog': { who: ['rest', 'system', 'agent'], by: "REST, its agent handing it back, or its agent's liveness lapsing" },
  'in_progress>needs_input': { who: ['agent:question'], by: 'ask_user_question (the question is what a person answers)' },
  'needs_input>in_progress': { who: ['rest:answer', 'gitea:answer'], by: 'an answer to its question (REST respond, /answer or a reply on the PR or issue)' },
  'in_progress>ready_to_test': { who: ['system', 'rest', 'agent'], by: "the preview of the PR's head becoming available (or, for a project without previews, REST or its agent)" },
  'ready_to_test>in_progress': { who: ['gitea'], by: 'new commits, a review requesting changes, /reject or the PR closed unmerged' },
  'in_progress>approved': APPROVERS,
  'ready_to_test>approved': APPROVERS,
  'approved>in_progress': { who: ['gitea', 'system'], by: 'new commits, a review requesting changes, /reject or a conflict in the merge train' },
  'cancelled>backlog': { who: ['rest'], by: 'REST (reopen)' },
};

const BY_TARGET: Partial<Record<TaskState, Movers>> = {
  staging: { who: ['gitea'], by: "Gitea's merge of the pull request" },
  production: { who: ['gitea'], by: "Gitea's merge of the pull request" },
  cancelled: { who: ['gitea', 'rest'], by: '/cancel or REST' },
};

/** Work on a task in these states is over: its preview is never (re)deployed and is torn down by cleanup. */
export const FINISHED_STATES: ReadonlySet<TaskState> = new Set<TaskState>(['staging', 'production', 'cancelled']);

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === 'string' && (TASK_STATES as readonly string[]).includes(value);
}

const describeMover = (m: Mover) => (m.via ? `${m.source} (${m.via})` : m.source);

/** Why a move is refused, or null when it is allowed. A move to the current state is not a move. */
export function refusal(from: TaskState, to: TaskState, mover: TransitionSource | Mover): string | null {
  const m: Mover = typeof mover === 'string' ? { source: mover } : mover;
  // A request made a particular way (a claim, a question, an answer) may make only the moves listed for that way.
  const may = (movers: Movers) => movers.who.includes(m.via ? `${m.source}:${m.via}` : m.source);
  // Targets only some may set (merge facts, cancelling) are refused first, from whatever state.
  const byTarget = BY_TARGET[to];
  if (byTarget && !may(byTarget)) return `only ${byTarget.by} moves a task to ${to}`;
  if (!ALLOWED_FROM[to].includes(from)) {
    return `a task in ${from} cannot move to ${to} (${to} is entered from ${ALLOWED_FROM[to].join(', ')})`;
  }
  const movers = MOVERS[`${from}>${to}`];
  if (movers && !may(movers)) return `${describeMover(m)} cannot move a task from ${from} to ${to}: that is done by ${movers.by}`;
  if (from === 'in_progress' && to === 'ready_to_test' && m.source !== 'system' && m.previews !== false) {
    return `a task of a project with previews moves to ready_to_test when the preview of its PR's head is available`;
  }
  return null;
}
