import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { CACHE_TTL, gens, type Cache } from '../cache.js';
import { unitOfWork, type UnitOfWorkDeps } from '../db/unit-of-work.js';
import type { FeedPublisher } from '../feed/publisher.js';
import type { Page } from '../pagination.js';
import { notFound } from '../errors.js';

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
export const AGENT_COLUMNS = ['id', 'name', 'status', 'current_task_id', 'last_seen_at', 'created_at'] as const;

export const toAgent = (r: AgentRow): Agent => ({
  id: r.id,
  name: r.name,
  status: r.status,
  currentTaskId: r.current_task_id,
  lastSeenAt: r.last_seen_at ? new Date(r.last_seen_at).toISOString() : null,
  createdAt: new Date(r.created_at).toISOString(),
});

/** Tokens are random and long, so a fast hash is enough; only the hash is stored. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export class AgentService {
  private readonly uow: UnitOfWorkDeps;

  constructor(private readonly deps: { db: Knex; cache: Cache; feed: FeedPublisher }) {
    this.uow = deps;
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

  async authenticate(token: string): Promise<Agent | null> {
    const row = await this.deps.db<AgentRow>('agents').where({ token_hash: hashToken(token) }).first();
    return row ? toAgent(row) : null;
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
    return unitOfWork(this.uow, async (tx) => {
      const row = await tx.trx<AgentRow>('agents').where({ id }).forUpdate().first();
      if (!row) throw notFound(`agent ${id}`);
      const taskId = currentTaskId === undefined ? row.current_task_id : currentTaskId;
      await tx.trx('agents').where({ id }).update({ status, current_task_id: taskId, last_seen_at: new Date() });
      if (row.status !== status || row.current_task_id !== taskId) {
        const task = taskId ? await tx.trx('tasks').where({ id: taskId }).first('project_id') : null;
        await tx.emit({
          type: 'agent:status',
          projectId: task?.project_id ?? null,
          actor,
          payload: { agentId: id, status, currentTaskId: taskId },
        });
        tx.touch(gens.agents());
      }
      return toAgent((await tx.trx<AgentRow>('agents').where({ id }).first())!);
    });
  }

  async touch(id: number): Promise<void> {
    await this.deps.db('agents').where({ id }).update({ last_seen_at: new Date() });
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
