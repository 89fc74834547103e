import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { CACHE_TTL, gens } from '../cache.js';
import { unitOfWork, type Tx, type UnitOfWorkDeps } from '../tasks/unit-of-work.js';
import { projectOfTask } from '../tasks/board.js';
import type { Page } from '../pagination.js';
import type { NewEvent } from '../tasks/event-log.js';
import { notFound } from '../errors.js';
import { TtlMap } from '../ttl-map.js';

export const AGENT_STATUSES = ['idle', 'busy', 'offline'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

interface AgentRow {
  id: number;
  name: string;
  token_hash?: string;
  status: AgentStatus;
  current_task_id: number | null;
  last_seen_at: Date | null;
  created_at: Date;
  revoked_at?: Date | null;
}

export interface Agent {
  id: number;
  name: string;
  status: AgentStatus;
  currentTaskId: number | null;
  lastSeenAt: string | null;
  createdAt: string;
}

/** Every column but the token hash: what may be read to show an agent. */
const AGENT_COLUMNS = ['id', 'name', 'status', 'current_task_id', 'last_seen_at', 'created_at'] as const;

const toAgent = (r: AgentRow): Agent => ({
  id: r.id,
  name: r.name,
  status: r.status,
  currentTaskId: r.current_task_id,
  lastSeenAt: r.last_seen_at ? new Date(r.last_seen_at).toISOString() : null,
  createdAt: new Date(r.created_at).toISOString(),
});

/** Every agent, read through `db` (which may be a transaction: the feed's snapshot reads them in its own view). */
export async function listAgents(db: Knex): Promise<Agent[]> {
  const rows = await db('agents').select(...AGENT_COLUMNS).orderBy('id', 'asc');
  return (rows as AgentRow[]).map(toAgent);
}

/** The feed event of an agent's new status or task; projectId is its task's project. */
export function agentStatusEvent(agentId: number, status: AgentStatus, currentTaskId: number | null, projectId: number | null, actor: string): NewEvent {
  return { type: 'agent:status', projectId, actor, payload: { agentId, status, currentTaskId } };
}

/** Tokens are random and long, so a fast hash is enough; only the hash is stored. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Agents a process remembers by token at most: enough for any team, bounded whatever is tried. */
const MAX_CACHED_TOKENS = 10_000;
/** A sign of life is written at most this often per agent by one process: AGENT_TIMEOUT is at least 10 s. */
const SIGHTING_INTERVAL_MS = 1000;

export interface AgentServiceOptions {
  /** How long this process trusts a token it has looked up; a revoked token is refused everywhere within this time. 0 asks MySQL every time. */
  tokenCacheMs: number;
}

export class AgentService {
  /** token hash → the agent it signed in as; only valid tokens are kept. */
  private readonly tokens: TtlMap<string, Agent>;
  /** agent id → this process wrote its sign of life less than SIGHTING_INTERVAL_MS ago. */
  private readonly sightings = new TtlMap<number, true>({ ttlMs: SIGHTING_INTERVAL_MS, maxEntries: MAX_CACHED_TOKENS });

  constructor(
    private readonly deps: UnitOfWorkDeps,
    opts: AgentServiceOptions = { tokenCacheMs: 5000 },
  ) {
    this.tokens = new TtlMap({ ttlMs: opts.tokenCacheMs, maxEntries: MAX_CACHED_TOKENS });
  }

  async create(name: string): Promise<Agent & { token: string }> {
    const token = `aiw_${randomBytes(32).toString('base64url')}`;
    const [id] = await this.deps.db('agents').insert({ name, token_hash: hashToken(token), status: 'offline' });
    await this.deps.cache.bump([gens.agents()]);
    return { ...(await this.get(Number(id))), token };
  }

  async get(id: number): Promise<Agent> {
    const row = await this.deps.db<AgentRow>('agents').where({ id }).first();
    if (!row) throw notFound(`agent ${id}`);
    return toAgent(row);
  }

  /**
   * The agent a token signs in as, or null (unknown or revoked). Who the agent is (id, name) is all
   * a caller may rely on: its status is as of the look-up, which this process reuses for a few seconds.
   */
  async authenticate(token: string): Promise<Agent | null> {
    const hash = hashToken(token);
    const known = this.tokens.get(hash);
    if (known) return known;
    const row = await this.deps.db<AgentRow>('agents').where({ token_hash: hash }).whereNull('revoked_at').first(...AGENT_COLUMNS);
    if (!row) return null;
    const agent = toAgent(row);
    this.tokens.set(hash, agent);
    return agent;
  }

  /**
   * Revokes the agent's token: refused at once by this process, by the others within their token
   * cache time. The agent is marked offline; the row stays, as tasks and events name it.
   */
  async revoke(id: number, actor: string): Promise<Agent> {
    const agent = await unitOfWork(this.deps, async (tx) => {
      const row = await tx.trx<AgentRow>('agents').where({ id }).forUpdate().first();
      if (!row) throw notFound(`agent ${id}`);
      if (!row.revoked_at) await tx.trx('agents').where({ id }).update({ revoked_at: new Date() });
      const after: AgentRow = { ...row, status: 'offline', current_task_id: null };
      await this.write(tx, row, after, actor);
      return toAgent(after);
    });
    this.forget(id);
    return agent;
  }

  /** Drops what this process remembers of an agent, after a write that changed it. */
  private forget(id: number): void {
    this.tokens.deleteWhere((agent) => agent.id === id);
    this.sightings.delete(id);
  }

  async list(page: Page): Promise<{ agents: Agent[]; total: number }> {
    return this.deps.cache.getOrLoad(`agents:${page.limit}:${page.offset}`, CACHE_TTL.agents, [gens.agents()], async () => {
      const [rows, [{ total }]] = await Promise.all([
        this.deps.db<AgentRow>('agents').orderBy('id').limit(page.limit).offset(page.offset),
        this.deps.db('agents').count({ total: '*' }),
      ]);
      return { agents: (rows as AgentRow[]).map(toAgent), total: Number(total) };
    });
  }

  /** Records that the agent is alive and, when status or task changed, publishes agent:status. */
  async report(id: number, status: AgentStatus, currentTaskId: number | null | undefined, actor: string): Promise<Agent> {
    this.sightings.delete(id);
    return unitOfWork(this.deps, async (tx) => {
      const row = await tx.trx<AgentRow>('agents').where({ id }).forUpdate().first();
      if (!row) throw notFound(`agent ${id}`);
      const taskId = currentTaskId === undefined ? row.current_task_id : currentTaskId;
      const changed: AgentRow = { ...row, status, current_task_id: taskId, last_seen_at: new Date() };
      await this.write(tx, row, changed, actor);
      return toAgent(changed);
    });
  }

  /**
   * Marks an agent offline if it is still silent since cutoff, re-checked under the row lock so an
   * agent calling in at that moment stays; its last-seen time is left as it was. False when it was not.
   */
  async markOfflineIfLapsed(id: number, cutoff: Date, actor: string): Promise<boolean> {
    this.sightings.delete(id);
    return unitOfWork(this.deps, async (tx) => {
      const row = await tx.trx<AgentRow>('agents').where({ id }).forUpdate().first();
      if (!row || row.status === 'offline' || (row.last_seen_at !== null && new Date(row.last_seen_at) >= cutoff)) return false;
      await this.write(tx, row, { ...row, status: 'offline', current_task_id: null }, actor);
      return true;
    });
  }

  /** Writes an agent's row; a change of status or task is published as agent:status. */
  private async write(tx: Tx, before: AgentRow, after: AgentRow, actor: string): Promise<void> {
    await tx.trx('agents')
      .where({ id: after.id })
      .update({ status: after.status, current_task_id: after.current_task_id, last_seen_at: after.last_seen_at });
    if (before.status === after.status && before.current_task_id === after.current_task_id) return;
    const projectId = after.current_task_id ? await projectOfTask(tx.trx, after.current_task_id) : null;
    await tx.emit(agentStatusEvent(after.id, after.status, after.current_task_id, projectId, actor));
    tx.touch(gens.agents());
  }

  /**
   * Records a sign of life of an agent that is present; false when it is marked offline (or unknown).
   * One write per agent per second and process is enough for a timeout of minutes: calls in between
   * cost nothing. Marking the agent offline here forgets the last write, so the next call is written.
   */
  async touch(id: number): Promise<boolean> {
    if (this.sightings.get(id)) return true;
    const present = (await this.deps.db('agents').where({ id }).whereNot('status', 'offline').update({ last_seen_at: new Date() })) > 0;
    if (present) this.sightings.set(id, true);
    return present;
  }

  /** Notes that a write of this process (a claim) has just recorded the agent's sign of life. */
  sighted(id: number): void {
    this.sightings.set(id, true);
  }

  /** Agents silent for longer than timeoutMs, still marked as present. */
  async lapsed(timeoutMs: number): Promise<Agent[]> {
    const cutoff = new Date(Date.now() - timeoutMs);
    const rows = await this.deps.db<AgentRow>('agents')
      .whereNot('status', 'offline')
      .andWhere((q) => q.where('last_seen_at', '<', cutoff).orWhereNull('last_seen_at'));
    return rows.map(toAgent);
  }
}
