import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 390, height: 844 };

export interface TestBrowser {
  /** Script errors and console errors of every page opened (a CSP violation, a failed load). */
  problems: string[];
  /** A page in its own browser context (its own cookies: one signed-in person per context). */
  open(url: string, viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

const LAUNCH_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Whether this machine can run browser tests; in CI a missing Chromium is a failure, not a skip. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`CI is set but ${CHROMIUM} is missing: apt-get install -y chromium`);
  console.warn(`    skipped: no chromium at ${CHROMIUM} (apt-get install -y chromium to run these)`);
  return false;
}

/** Debian's Chromium driven by playwright-core; each `open` gets a fresh profile. */
export async function launchBrowser(): Promise<TestBrowser> {
  const problems: string[] = [];
  const contexts: Array<{ context: BrowserContext; dir: string }> = [];
  return {
    problems,
    async open(url, viewport = DESKTOP) {
      const dir = await mkdtemp(join(tmpdir(), 'aiworker-chromium-'));
      const context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: LAUNCH_FLAGS, viewport });
      contexts.push({ context, dir });
      const [page] = context.pages();
      const tab = page ?? (await context.newPage());
      tab.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      tab.on('console', (msg) => {
        if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
      });
      await tab.goto(url);
      return tab;
    },
    async close() {
      for (const { context, dir } of contexts.splice(0)) {
        await context.close().catch(() => {});
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
