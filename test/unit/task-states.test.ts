import { expect } from 'chai';
import { TASK_STATES, refusal, type Mover, type TaskState, type TransitionSource } from '../../src/tasks/states.js';

/** SPEC §2's transition table, written out pair by pair (independently of the implementation). */
const ALLOWED = new Set([
  'backlog>in_progress',
  'in_progress>backlog',
  'in_progress>needs_input',
  'needs_input>in_progress',
  'in_progress>ready_to_test',
  'ready_to_test>in_progress',
  'in_progress>approved',
  'ready_to_test>approved',
  'approved>in_progress',
  // staging: from any but production, cancelled
  'backlog>staging',
  'in_progress>staging',
  'needs_input>staging',
  'ready_to_test>staging',
  'approved>staging',
  // production: from any but cancelled
  'backlog>production',
  'in_progress>production',
  'needs_input>production',
  'ready_to_test>production',
  'approved>production',
  'staging>production',
  // cancelled: from any but staging, production
  'backlog>cancelled',
  'in_progress>cancelled',
  'needs_input>cancelled',
  'ready_to_test>cancelled',
  'approved>cancelled',
  'cancelled>backlog',
]);

/** SPEC §2's "by" column, written out independently: who may make each allowed move. */
const BY: Record<string, string[]> = {
  'backlog>in_progress': ['agent:claim', 'gitea', 'rest'],
  'in_progress>backlog': ['rest', 'system', 'agent'],
  'in_progress>needs_input': ['agent:question'],
  'needs_input>in_progress': ['rest:answer', 'gitea:answer'],
  'in_progress>ready_to_test': ['system', 'rest:no-previews', 'agent:no-previews'],
  'ready_to_test>in_progress': ['gitea'],
  'in_progress>approved': ['gitea', 'rest'],
  'ready_to_test>approved': ['gitea', 'rest'],
  'approved>in_progress': ['gitea', 'system'],
  'cancelled>backlog': ['rest'],
};
const byTarget = (to: string) => (to === 'staging' || to === 'production' ? ['gitea'] : to === 'cancelled' ? ['gitea', 'rest'] : []);

/** Every kind of request there is: a source, how (claim, question, answer), and the project's previews. */
const MOVERS: Array<{ name: string; mover: Mover }> = [
  ...(['rest', 'agent', 'gitea', 'system'] as TransitionSource[]).flatMap((source) => [
    { name: source, mover: { source, previews: true } },
    { name: `${source}:no-previews`, mover: { source, previews: false } },
  ]),
  { name: 'agent:claim', mover: { source: 'agent', via: 'claim' } },
  { name: 'agent:question', mover: { source: 'agent', via: 'question' } },
  { name: 'rest:answer', mover: { source: 'rest', via: 'answer' } },
  { name: 'gitea:answer', mover: { source: 'gitea', via: 'answer' } },
];

function expectedAllowed(from: string, to: string, name: string): boolean {
  if (!ALLOWED.has(`${from}>${to}`)) return false;
  const who = BY[`${from}>${to}`] ?? byTarget(to);
  const base = name.replace(/:no-previews$/, '');
  const plain = base.split(':')[0];
  if (`${from}>${to}` === 'in_progress>ready_to_test') return who.includes(name) || (plain === 'system' && who.includes('system'));
  return who.includes(base) || (who.includes(plain) && !base.includes(':')) || (who.includes(plain) && name.endsWith(':no-previews'));
}

describe('task state machine', () => {
  for (const from of TASK_STATES) {
    for (const to of TASK_STATES) {
      if (from === to) continue;
      for (const { name, mover } of MOVERS) {
        const expected = expectedAllowed(from, to, name);
        it(`${from} -> ${to} by ${name}: ${expected ? 'allowed' : 'refused'}`, () => {
          const why = refusal(from as TaskState, to as TaskState, mover);
          if (expected) expect(why).to.equal(null);
          else expect(why).to.be.a('string').and.not.empty;
        });
      }
    }
  }

  it('explains a refusal with the states it names', () => {
    expect(refusal('backlog', 'approved', 'rest')).to.match(/backlog.*approved/);
    expect(refusal('in_progress', 'staging', 'rest')).to.match(/Gitea/);
    expect(refusal('in_progress', 'needs_input', 'rest')).to.match(/ask_user_question/);
    expect(refusal('needs_input', 'in_progress', 'rest')).to.match(/answer/);
    expect(refusal('approved', 'in_progress', 'rest')).to.match(/new commits/);
    expect(refusal('in_progress', 'ready_to_test', { source: 'rest', previews: true })).to.match(/preview/);
  });
});
