import { HANDLED_EVENT_TYPES } from './events.js';

/**
 * The `events` keys of Gitea's CreateHookOption that make it deliver one X-Gitea-Event-Type
 * (routers/api/v1/utils/hook.go updateHookEvents): `pull_request` switches on every pull request
 * sub-event and `issues` every issue one, review deliveries included; the specific key is named
 * too, so the hook reads plainly in Gitea's settings page.
 */
export function hookEventsFor(eventType: string): string[] {
  if (eventType.startsWith('pull_request_review')) return ['pull_request', 'pull_request_review'];
  if (eventType.startsWith('pull_request')) return eventType === 'pull_request' ? ['pull_request'] : ['pull_request', eventType];
  if (eventType === 'issues') return ['issues'];
  if (eventType.startsWith('issue_')) return ['issues', eventType];
  return [eventType];
}

/** What aiworker's webhook subscribes to: every event type a handler acts on, and nothing else. */
export const HOOK_EVENTS: readonly string[] = [...new Set(HANDLED_EVENT_TYPES.flatMap(hookEventsFor))];
