import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The house rules, read from the sources themselves: who may write tasks and emit their events,
 * which layers may import which, no casts to never, no source file over 300 lines, tests by layer.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE_DIRS = ['src', 'handlers', 'jobs', 'migrations'];
const MAX_LINES = 300;

function filesUnder(dir: string, pattern = /\.tsx?$/): string[] {
  const abs = join(ROOT, dir);
  const out: string[] = [];
  for (const name of readdirSync(abs)) {
    const path = join(abs, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(relative(ROOT, path), pattern));
    else if (pattern.test(name)) out.push(relative(ROOT, path));
  }
  return out;
}

const sources = SOURCE_DIRS.flatMap((d) => filesUnder(d));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The files a source imports, as repository paths. */
function importsOf(file: string): string[] {
  const specs = [...read(file).matchAll(/(?:^|\n)\s*(?:import|export)[^'"`;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]);
  return specs.filter((s) => s.startsWith('.')).map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, '.ts'));
}

const inside = (file: string, dir: string) => file.startsWith(`${dir}/`);
const TASK_TABLES = ['tasks', 'task_events', 'task_questions', 'task_feedback'];
/** A knex query on a table: db('tasks'), trx<TaskRow>('tasks'), tx.trx('tasks'), .join('tasks', …). */
const TABLE_QUERY = new RegExp(String.raw`(?:\b(?:db|trx|knex)\s*(?:<[^>()]*>)?|\.(?:join|leftJoin|innerJoin|from|into|table))\(\s*['"](${TASK_TABLES.join('|')})['"]`);
const EMITS_TASK_EVENT = /\bemit(?:All)?\(\s*\{[^}]*?\btype:\s*['"]task:/s;

describe('architecture', () => {
  it('reads the sources it checks', () => {
    expect(sources).to.include.members(['src/tasks/service.ts', 'src/main.ts', 'handlers/index.ts', 'jobs/index.ts']);
  });

  it('writes and reads the task tables only in src/tasks/ (migrations own their schema)', () => {
    const offenders = sources
      .filter((f) => !inside(f, 'src/tasks') && !inside(f, 'migrations'))
      .filter((f) => TABLE_QUERY.test(read(f)))
      .map((f) => `${f}: ${TABLE_QUERY.exec(read(f))![0]}`);
    expect(offenders).to.deep.equal([]);
  });

  it('emits task events only in src/tasks/', () => {
    expect(sources.filter((f) => !inside(f, 'src/tasks') && EMITS_TASK_EVENT.test(read(f)))).to.deep.equal([]);
  });

  it("keeps the state machine's transaction inside src/tasks/; the event log's unit of work is for tasks, agents and deployments", () => {
    const offenders: string[] = [];
    for (const f of sources) {
      for (const target of importsOf(f)) {
        if (target === 'src/tasks/writer.ts' && !inside(f, 'src/tasks')) offenders.push(`${f} imports ${target}`);
        const mayAppend = ['src/tasks', 'src/agents', 'src/deployments'].some((d) => inside(f, d));
        if (target === 'src/tasks/unit-of-work.ts' && !mayAppend) offenders.push(`${f} imports ${target}`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });

  it('keeps src/gitea/ free of task imports and src/mcp/ free of src/http/ imports', () => {
    const offenders: string[] = [];
    for (const f of sources) {
      for (const target of importsOf(f)) {
        if (inside(f, 'src/gitea') && inside(target, 'src/tasks')) offenders.push(`${f} imports ${target}`);
        if (inside(f, 'src/mcp') && inside(target, 'src/http')) offenders.push(`${f} imports ${target}`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });

  it('reads request bodies with koa-body; only the webhook intake reads exact bytes (its signature covers them)', () => {
    const raw = sources.filter((f) => importsOf(f).includes('src/request/raw-body.ts'));
    expect(raw).to.deep.equal(['src/webhooks/ingest.ts']);
    expect(importsOf('src/mcp/http.ts')).to.include('src/request/body.ts');
    expect(read('src/request/body.ts')).to.match(/from 'koa-body'/);
  });

  it('recognises code fences in one place, the comment parser (handlers/commands/parse.ts)', () => {
    const fence = new RegExp('`{3}|`\\{3|~\\{3|~{3}');
    expect(sources.filter((f) => f !== 'handlers/commands/parse.ts' && fence.test(read(f)))).to.deep.equal([]);
    expect(fence.test(read('handlers/commands/parse.ts')), 'the parser itself is found by the rule').to.equal(true);
  });

  it('has no casts to never anywhere', () => {
    const all = [...sources, ...filesUnder('test'), ...filesUnder('bench')];
    const cast = new RegExp(String.raw`\b${'as'}\s+never\b(?!\s+get)`);
    expect(all.filter((f) => cast.test(read(f)))).to.deep.equal([]);
  });

  it(`keeps every source file under ${MAX_LINES} lines`, () => {
    const long = sources.map((f) => [f, read(f).split('\n').length] as const).filter(([, n]) => n > MAX_LINES);
    expect(long.map(([f, n]) => `${f}: ${n}`)).to.deep.equal([]);
  });

  it('tests each handler in one file named after it (test/integration/handlers/), and each job file there names a job', () => {
    const names = (dir: string, suffix: string) => readdirSync(join(ROOT, dir)).filter((n) => n.endsWith(suffix)).map((n) => n.slice(0, -suffix.length));
    const handlers = names('handlers', '.ts').filter((n) => !['index', 'types'].includes(n));
    expect(names('test/integration/handlers', '.test.ts')).to.have.members(handlers);
    expect(handlers).to.have.length.above(5);
    expect(names('jobs', '.ts')).to.include.members(names('test/integration/jobs', '.test.ts'));
  });

  it('answers Gitea in tests with the one stand-in (test/support/gitea-server.ts); nock reaches Gitea only in the client\'s own unit test', () => {
    const giteaPaths = /\/api\/v1\/(repos|user|version)|\/login\/oauth\//;
    const offenders = filesUnder('test')
      .filter((f) => f !== 'test/unit/gitea-client.test.ts' && /from 'nock'/.test(read(f)))
      .filter((f) => giteaPaths.test(read(f)));
    expect(offenders).to.deep.equal([]);
  });

  it('keeps tests by layer: unit, integration or system, none loose in test/', () => {
    const loose = readdirSync(join(ROOT, 'test')).filter((name) => name.endsWith('.test.ts'));
    expect(loose, 'move them to test/unit/ (no MariaDB, Redis or processes) or test/integration/').to.deep.equal([]);
  });
});
