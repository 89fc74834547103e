import type { GiteaPullReview } from '../src/gitea/types.js';
import type { ReviewLineComment } from '../src/tasks/feedback.js';
import type { JobDefinition } from './types.js';

export interface ReviewCommentsData {
  feedbackId: number;
  projectId: number;
  prNumber: number;
  /** Who left the review: its sender. */
  reviewer: string;
  state: 'REQUEST_CHANGES' | 'COMMENT';
}

/**
 * The review a feedback came from. Gitea's review webhook names neither the review nor its
 * comments, so it is the newest review of that state by the reviewer not yet given to other
 * feedback, preferring one whose text is the feedback's (a later review may already exist).
 */
function reviewOf(reviews: GiteaPullReview[], data: ReviewCommentsData, body: string, taken: Set<number>): GiteaPullReview | null {
  const login = data.reviewer.toLowerCase();
  const theirs = reviews
    .filter((r) => r.user?.login.toLowerCase() === login && r.state === data.state && !taken.has(r.id))
    .sort((a, b) => b.id - a.id);
  return theirs.find((r) => r.body.trim() === body.trim()) ?? theirs[0] ?? null;
}

/**
 * Fetches the line comments of the review behind a stored feedback (`GET …/pulls/{index}/reviews`,
 * then `…/reviews/{id}/comments`) and keeps them with it. A Gitea error fails the attempt and the
 * job is retried with backoff; the feedback itself was stored before, so nothing is lost meanwhile.
 */
export const reviewComments: JobDefinition<ReviewCommentsData> = {
  queue: 'tasks',
  name: 'review-comments',
  async process(job, deps) {
    const { feedbackId, projectId, prNumber } = job.data;
    const feedback = await deps.tasks.reviewComments.get(feedbackId);
    if (!feedback) return { status: 'skipped', note: `feedback ${feedbackId} does not exist` };
    if (feedback.commentsFetched) return { status: 'skipped', note: 'comments fetched before' };
    if (!deps.gitea) return { status: 'skipped', note: 'Gitea not configured: review comments not fetched' };
    const project = await deps.projects.get(projectId);
    const reviews = await deps.gitea.listReviews(project.owner, project.repoName, prNumber);
    const review = reviewOf(reviews, job.data, feedback.body, await deps.tasks.reviewComments.attachedReviews(feedback.taskId, feedbackId));
    if (!review) {
      // Nothing to attach: the review was deleted, or it was one without a review row (none is left to ask for).
      await deps.tasks.reviewComments.attachComments(feedbackId, null, []);
      return { status: 'no-review', comments: 0 };
    }
    const comments = await deps.gitea.getReviewComments(project.owner, project.repoName, prNumber, review.id);
    const lines: ReviewLineComment[] = comments.map((c) => ({ path: c.path, line: c.position || c.original_position, body: c.body }));
    await deps.tasks.reviewComments.attachComments(feedbackId, review.id, lines);
    return { status: 'fetched', reviewId: review.id, comments: lines.length };
  },
};
