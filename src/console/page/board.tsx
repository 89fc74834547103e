import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { BoardActions } from './api.js';
import { TaskCard } from './card.js';
import type { FeedState } from './feed.js';
import { stateLabel } from './format.js';
import { NewTaskDialog } from './new-task.js';
import { Header, type HeaderProps } from './header.js';
import { Sidebar } from './sidebar.js';
import { useNow } from './use-feed.js';
import { TASK_STATES, type Agent, type BoardTask, type TaskState } from './types.js';

export interface BoardProps extends HeaderProps {
  feed: FeedState;
  /** Absent without write permission on the chosen project. */
  actions: BoardActions | null;
  /** Why the acting controls are absent, shown to the person (read-only access). */
  readOnlyNote: string | null;
}

type Notice = { kind: 'info' | 'error'; text: string } | null;

/** The board: a column per state, live from the feed, and (with write permission) what people do. */
export function Board(props: BoardProps) {
  const { feed, actions, projectId, projects } = props;
  const now = useNow();
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState<Notice>(null);
  const [busy, setBusy] = useState(false);

  const tasks = [...feed.tasks.values()].sort((a, b) => a.id - b.id);
  const approved = new Set(tasks.filter((t) => t.state === 'approved').map((t) => t.id));
  const chosen = [...selected].filter((id) => approved.has(id));
  const project = projects.find((p) => p.id === projectId) ?? null;
  const projectNames = new Map(projects.map((p) => [p.id, p.name]));
  const showError = (text: string) => setNotice({ kind: 'error', text });

  const act = async (what: () => Promise<string>) => {
    setBusy(true);
    try {
      setNotice({ kind: 'info', text: await what() });
    } catch (err) {
      showError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const merge = () =>
    act(async () => {
      const { jobId } = await actions!.merge(chosen);
      setSelected(new Set());
      return `Merging ${chosen.length} task${chosen.length === 1 ? '' : 's'} to staging (job ${jobId}).`;
    });
  const promote = () =>
    act(async () => {
      const { jobId } = await actions!.promote(projectId!);
      return `Promoting ${project?.name ?? 'the project'} to production (job ${jobId}).`;
    });
  const select = (taskId: number, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(taskId);
    else next.delete(taskId);
    setSelected(next);
  };

  return (
    <>
      <Header {...props} connection={feed.connection} />
      {(actions || props.readOnlyNote) && (
      <div class="toolbar">
        {actions && project && (
          <>
            <button type="button" class="primary" onClick={() => setCreating(true)}>
              New task
            </button>
            <button type="button" onClick={promote} disabled={busy}>
              Promote to production
            </button>
          </>
        )}
        {props.readOnlyNote && <p class="note">{props.readOnlyNote}</p>}
        <p class={`notice notice-${notice?.kind ?? 'info'}`} role={notice?.kind === 'error' ? 'alert' : 'status'}>
          {notice?.text}
        </p>
      </div>
      )}
      <main class="layout">
        <div class="board" role="region" aria-label="Tasks by state">
          {TASK_STATES.map((state) => (
            <Column
              key={state}
              state={state}
              tasks={tasks.filter((t) => t.state === state)}
              tools={
                state === 'approved' && actions ? (
                  <button type="button" class="merge" onClick={merge} disabled={busy || chosen.length === 0}>
                    Merge to staging
                  </button>
                ) : null
              }
              renderCard={(task) => (
                <TaskCard
                  key={task.id}
                  task={task}
                  agent={agentOf(task, feed.agents)}
                  projectName={projectId === null ? (projectNames.get(task.projectId) ?? null) : null}
                  now={now}
                  actions={actions}
                  selected={selected.has(task.id)}
                  onSelect={select}
                  onError={showError}
                />
              )}
            />
          ))}
        </div>
        <Sidebar agents={feed.agents} deployments={feed.deployments} />
      </main>
      {actions && project && (
        <NewTaskDialog
          projectName={project.name}
          open={creating}
          onClose={() => setCreating(false)}
          onCreate={async ({ title, description }) => {
            await actions.createTask({ projectId: project.id, title, description });
            setNotice({ kind: 'info', text: `Created "${title}".` });
          }}
        />
      )}
    </>
  );
}

interface ColumnProps {
  state: TaskState;
  tasks: BoardTask[];
  /** Controls that act on the column's cards (the merge button of `approved`). */
  tools: ComponentChildren;
  renderCard(task: BoardTask): ComponentChildren;
}

function Column({ state, tasks, tools, renderCard }: ColumnProps) {
  const headingId = `column-${state}`;
  return (
    <section class="column" data-state={state} aria-labelledby={headingId}>
      <div class="column-head">
        <h2 id={headingId}>
          {stateLabel(state)} <span class="count">{tasks.length}</span>
        </h2>
        {tools}
      </div>
      <div class="cards">{tasks.length ? tasks.map(renderCard) : <p class="empty">No tasks</p>}</div>
    </section>
  );
}

/** The agent assigned to the task, else one that reports working on it. */
function agentOf(task: BoardTask, agents: ReadonlyMap<number, Agent>): Agent | null {
  if (task.assignedAgentId !== null) {
    return agents.get(task.assignedAgentId) ?? { id: task.assignedAgentId, name: `agent #${task.assignedAgentId}`, status: 'busy', currentTaskId: task.id };
  }
  return [...agents.values()].find((a) => a.currentTaskId === task.id) ?? null;
}
