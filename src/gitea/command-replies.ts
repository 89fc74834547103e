import type { Knex } from 'knex';

export interface RecordedReply {
  body: string;
  /** Null until Gitea took the comment. */
  commentId: number | null;
  posted: boolean;
}

/**
 * The replies a delivery's commands got, kept so that handling the delivery again (a retry after
 * Gitea failed mid-way, or a replay) neither runs a command a second time nor posts its reply twice.
 */
export class CommandReplies {
  constructor(private readonly db: Knex) {}

  /** What was recorded for a delivery, by the reply's position in its comment. */
  async of(deliveryId: string): Promise<Map<number, RecordedReply>> {
    const rows = await this.db('command_replies')
      .where({ delivery_id: deliveryId })
      .select<Array<{ position: number; body: string; comment_id: number | string | null; posted_at: Date | null }>>('position', 'body', 'comment_id', 'posted_at');
    return new Map(
      rows.map((r) => [r.position, { body: r.body, commentId: r.comment_id === null ? null : Number(r.comment_id), posted: r.posted_at !== null }]),
    );
  }

  /** The reply a command produced, before it is posted. */
  async record(deliveryId: string, position: number, body: string): Promise<void> {
    await this.db('command_replies').insert({ delivery_id: deliveryId, position, body }).onConflict(['delivery_id', 'position']).merge(['body']);
  }

  async markPosted(deliveryId: string, position: number, commentId: number | null): Promise<void> {
    await this.db('command_replies').where({ delivery_id: deliveryId, position }).update({ comment_id: commentId, posted_at: new Date() });
  }
}
