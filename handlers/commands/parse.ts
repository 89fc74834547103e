export interface ParsedCommand {
  name: string;
  args: string;
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})/;
const COMMAND = /^\/([a-z][a-z-]*)(?:[ \t]+(.*))?$/;

/**
 * Commands stand at the start of a line. Lines inside fenced or indented code blocks and quoted
 * lines (`> /approve`) are never commands.
 */
export function parseCommands(body: string, known: ReadonlySet<string>): ParsedCommand[] {
  const found: ParsedCommand[] = [];
  let fence: string | null = null;
  for (const rawLine of body.replace(/\r\n?/g, '\n').split('\n')) {
    const fenceMatch = FENCE.exec(rawLine);
    if (fence) {
      if (fenceMatch && fenceMatch[1][0] === fence[0] && fenceMatch[1].length >= fence.length) fence = null;
      continue;
    }
    if (fenceMatch) {
      fence = fenceMatch[1];
      continue;
    }
    if (/^( {4,}|\t)/.test(rawLine)) continue;
    const line = rawLine.trimEnd();
    const m = COMMAND.exec(line.trimStart());
    if (!m || !known.has(m[1])) continue;
    found.push({ name: m[1], args: (m[2] ?? '').trim() });
  }
  return found;
}

/** The comment's own words, without quoted lines, code blocks or commands: a reply to a question. */
export function plainText(body: string): string {
  let fence: string | null = null;
  const kept: string[] = [];
  for (const line of body.replace(/\r\n?/g, '\n').split('\n')) {
    const fenceMatch = FENCE.exec(line);
    if (fence) {
      if (fenceMatch && fenceMatch[1][0] === fence[0]) fence = null;
      kept.push(line);
      continue;
    }
    if (fenceMatch) fence = fenceMatch[1];
    if (/^\s*>/.test(line)) continue;
    kept.push(line);
  }
  return kept.join('\n').trim();
}
