import { useState } from 'preact/hooks';
import type { BoardActions } from './api.js';
import { elapsed, safeHref, stateLabel } from './format.js';
import type { Agent, BoardTask } from './types.js';

export interface CardProps {
  task: BoardTask;
  agent: Agent | null;
  /** Shown when the board shows several projects. */
  projectName: string | null;
  now: number;
  /** Absent without write permission: the card then only shows. */
  actions: BoardActions | null;
  selected: boolean;
  onSelect(taskId: number, selected: boolean): void;
  onError(message: string): void;
}

/** One task: an `article` named by its title, with what a person scans for and, with write permission, what they do. */
export function TaskCard({ task, agent, projectName, now, actions, selected, onSelect, onError }: CardProps) {
  const headingId = `task-${task.id}-title`;
  const pr = safeHref(task.prUrl);
  const preview = safeHref(task.previewUrl);
  return (
    <article class="card" aria-labelledby={headingId} data-task-id={task.id}>
      <h3 id={headingId} class="card-title">
        {task.title}
      </h3>
      <p class="meta">
        <span class="task-id">#{task.id}</span>
        {projectName && <span class="project">{projectName}</span>}
        {agent && <span class="agent">
            <span class="label">agent</span> {agent.name}
          </span>}
        {task.stateSince && (
          <time class="since" dateTime={task.stateSince} title={`in ${stateLabel(task.state)} since ${new Date(task.stateSince).toLocaleString()}`}>
            {elapsed(task.stateSince, now)} in column
          </time>
        )}
      </p>
      {(pr || preview) && (
        <p class="links">
          {pr && (
            <a class="pr-link" href={pr} target="_blank" rel="noopener noreferrer">
              {task.prNumber ? `PR #${task.prNumber}` : 'Pull request'}
            </a>
          )}
          {preview && (
            <a class="preview-link" href={preview} target="_blank" rel="noopener noreferrer">
              Open preview
            </a>
          )}
        </p>
      )}
      {task.state === 'needs_input' && task.question && <Question task={task} actions={actions} onError={onError} />}
      {task.state === 'approved' && actions && (
        <label class="select">
          <input type="checkbox" checked={selected} onChange={(e) => onSelect(task.id, e.currentTarget.checked)} />
          Select<span class="visually-hidden"> {task.title}</span>
        </label>
      )}
    </article>
  );
}

function Question({ task, actions, onError }: { task: BoardTask; actions: BoardActions | null; onError(message: string): void }) {
  const [answer, setAnswer] = useState('');
  const [sending, setSending] = useState(false);
  const fieldId = `task-${task.id}-answer`;
  const send = async (e: Event) => {
    e.preventDefault();
    if (!actions || !answer.trim()) return;
    setSending(true);
    try {
      await actions.respond(task.id, answer.trim());
      setAnswer('');
    } catch (err) {
      onError(`Answer to "${task.title}" not sent: ${(err as Error).message}`);
    } finally {
      setSending(false);
    }
  };
  return (
    <div class="question">
      <p class="question-text">
        <strong>Question:</strong> {task.question}
      </p>
      {actions && (
        <form class="answer" onSubmit={send}>
          <label for={fieldId}>Answer</label>
          <textarea id={fieldId} rows={2} required value={answer} onInput={(e) => setAnswer(e.currentTarget.value)} />
          <button type="submit" disabled={sending || !answer.trim()}>
            Send answer
          </button>
        </form>
      )}
    </div>
  );
}
