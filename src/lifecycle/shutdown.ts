import type { Logger } from '../log.js';

interface Step {
  name: string;
  close: () => Promise<void> | void;
}

/**
 * The one ordered shutdown registry: steps run in reverse order of registration, so what was
 * started last (HTTP, workers) stops first and connections (Redis, MySQL) close last.
 */
export class Shutdown {
  private readonly steps: Step[] = [];
  private running: Promise<void> | null = null;

  constructor(private readonly log: Logger) {}

  get inProgress(): boolean {
    return this.running !== null;
  }

  add(name: string, close: Step['close']): void {
    this.steps.push({ name, close });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          await step.close();
          this.log.debug({ step: step.name }, 'closed');
        } catch (err) {
          this.log.warn({ err, step: step.name }, 'close failed');
        }
      }
    })();
    return this.running;
  }

  /** SIGTERM/SIGINT: finish in-flight work, then exit 0; past the grace period exit 1 anyway. */
  installSignalHandlers(graceMs: number, exit: (code: number) => void = (code) => process.exit(code)): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.running) return;
      this.log.info({ signal, graceMs }, 'shutting down');
      const timer = setTimeout(() => {
        this.log.error({ graceMs }, 'shutdown grace period passed; exiting anyway');
        exit(1);
      }, graceMs);
      timer.unref();
      void this.run().then(() => {
        clearTimeout(timer);
        this.log.info('shutdown complete');
        exit(0);
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
}
