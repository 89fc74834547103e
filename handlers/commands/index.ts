import type { Command } from './types.js';
import { approve } from './approve.js';
import { reject } from './reject.js';
import { preview } from './preview.js';
import { stage } from './stage.js';
import { answer } from './answer.js';
import { cancel } from './cancel.js';
import { retry } from './retry.js';

const help: Command = {
  name: 'help',
  usage: '/help',
  help: 'list these commands',
  needsWrite: false,
  async run() {
    return helpText();
  },
};

/** The single list of comment commands; a new command is a new file and one line here. */
export const COMMANDS: readonly Command[] = [approve, reject, preview, stage, answer, cancel, retry, help];

export const COMMAND_NAMES: ReadonlySet<string> = new Set(COMMANDS.map((c) => c.name));

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

export function helpText(): string {
  const rows = COMMANDS.map((c) => `| \`${c.usage}\` | ${c.help} | ${c.needsWrite ? 'write access' : 'anyone'} |`);
  return ['aiworker understands these commands, each at the start of a line:', '', '| command | what it does | who |', '|---|---|---|', ...rows].join('\n');
}
