import { safeHref } from './format.js';
import type { Agent, Deployment } from './types.js';

/** The agents and the recent deploys, beside the board. */
export function Sidebar({ agents, deployments }: { agents: ReadonlyMap<number, Agent>; deployments: Deployment[] }) {
  return (
    <aside class="side">
      <section aria-labelledby="agents-heading">
        <h2 id="agents-heading">Agents</h2>
        <ul class="list" id="agents">
          {agents.size === 0 && <li class="muted">No agents yet</li>}
          {[...agents.values()].map((agent) => (
            <li key={agent.id} class="agent-item" data-agent-id={agent.id}>
              <span class={`dot dot-${agent.status}`} aria-hidden="true" />
              {agent.name} — {agent.status}
              {agent.currentTaskId !== null && <span class="muted"> on #{agent.currentTaskId}</span>}
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="deploys-heading">
        <h2 id="deploys-heading">Recent deploys</h2>
        <ul class="list" id="deployments">
          {deployments.length === 0 && <li class="muted">No deploys yet</li>}
          {deployments.map((d, i) => {
            const url = safeHref(d.url);
            return (
              <li key={d.id ?? `live-${i}`} class="deployment">
                <strong>{d.environment}</strong> <span class={`status status-${d.status}`}>{d.status}</span>
                {d.dryRun && <span class="muted"> (dry-run)</span>}
                {url && (
                  <div>
                    <a href={url} target="_blank" rel="noopener noreferrer">
                      {url}
                    </a>
                  </div>
                )}
                {d.taskIds.length > 0 && <div class="muted">tasks {d.taskIds.map((id) => `#${id}`).join(', ')}</div>}
                <div class="muted">{new Date(d.createdAt).toLocaleString()}</div>
              </li>
            );
          })}
        </ul>
      </section>
    </aside>
  );
}
