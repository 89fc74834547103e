export interface ParsedCommand {
  name: string;
  args: string;
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})/;
const COMMAND = /^\/([a-z][a-z-]*)(?:[ \t]+(.*))?$/;

interface Line {
  text: string;
  /** Inside a fenced code block, or one of its fence lines. */
  code: boolean;
}

/**
 * A comment's lines, each marked as code or not: the one place fences are tracked. As in
 * CommonMark, a fence is closed by a fence of the same character at least as long as the opening one.
 */
function markdownLines(body: string): Line[] {
  const lines: Line[] = [];
  let fence: string | null = null;
  for (const text of body.replace(/\r\n?/g, '\n').split('\n')) {
    const marker = FENCE.exec(text)?.[1] ?? null;
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = null;
      lines.push({ text, code: true });
      continue;
    }
    if (marker) fence = marker;
    lines.push({ text, code: marker !== null });
  }
  return lines;
}

const quoted = (text: string) => /^\s*>/.test(text);
const indentedCode = (text: string) => /^( {4,}|\t)/.test(text);

/**
 * Commands stand at the start of a line. Lines inside fenced or indented code blocks and quoted
 * lines (`> /approve`) are never commands.
 */
export function parseCommands(body: string, known: ReadonlySet<string>): ParsedCommand[] {
  const found: ParsedCommand[] = [];
  for (const { text, code } of markdownLines(body)) {
    if (code || indentedCode(text)) continue;
    const m = COMMAND.exec(text.trim());
    if (!m || !known.has(m[1])) continue;
    found.push({ name: m[1], args: (m[2] ?? '').trim() });
  }
  return found;
}

/**
 * The comment's own words, as a reply to a question: quoted lines (the question, quoted back) are
 * left out; code blocks are kept, since an answer may be code.
 */
export function plainText(body: string): string {
  return markdownLines(body)
    .filter(({ text, code }) => code || !quoted(text))
    .map(({ text }) => text)
    .join('\n')
    .trim();
}
