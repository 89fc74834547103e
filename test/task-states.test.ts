import { expect } from 'chai';
import { TASK_STATES, refusal, type TaskState, type TransitionSource } from '../src/tasks/states.js';

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

const SOURCES: TransitionSource[] = ['rest', 'agent', 'gitea', 'system'];

describe('task state machine', () => {
  for (const from of TASK_STATES) {
    for (const to of TASK_STATES) {
      if (from === to) continue;
      for (const source of SOURCES) {
        const factOnly = to === 'staging' || to === 'production';
        const expected = ALLOWED.has(`${from}>${to}`) && (!factOnly || source === 'gitea');
        it(`${from} -> ${to} by ${source}: ${expected ? 'allowed' : 'refused'}`, () => {
          const why = refusal(from as TaskState, to as TaskState, source);
          if (expected) expect(why).to.equal(null);
          else expect(why).to.be.a('string').and.not.empty;
        });
      }
    }
  }

  it('explains a refusal with the states it names', () => {
    expect(refusal('backlog', 'approved', 'rest')).to.match(/backlog.*approved/);
    expect(refusal('in_progress', 'staging', 'rest')).to.match(/Gitea/);
  });
});
