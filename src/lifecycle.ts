import type { Logger } from 'pino';

type Stopper = (timeoutMs: number) => Promise<unknown>;

/**
 * Owns SIGINT/SIGTERM/SIGHUP: stops what was started in reverse order (HTTP first, so no
 * request is cut off mid-transaction, then PostgreSQL), each bounded by a timeout, then exits.
 * A second signal forces the exit.
 */
export class Lifecycle {
  static current: Lifecycle | undefined;
  private readonly stoppers: { name: string; stop: Stopper }[] = [];
  private shuttingDown: Promise<void> | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    Lifecycle.current = this;
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        if (this.shuttingDown) {
          this.log.warn(`${signal} again: exiting now`);
          process.exit(130);
        }
        void this.shutdown(signal).then(() => process.exit(0));
      });
    }
  }

  add(name: string, stop: Stopper): void {
    this.stoppers.push({ name, stop });
  }

  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.log.info(`Shutting down (${reason})`);
      for (const { name, stop } of [...this.stoppers].reverse()) {
        const timer = new Promise<'timeout'>((r) =>
          setTimeout(() => r('timeout'), this.timeoutMs).unref(),
        );
        const outcome = await Promise.race([
          stop(this.timeoutMs).then(() => 'ok' as const),
          timer,
        ]).catch((error: unknown) => {
          this.log.error({ err: error }, `Stopping ${name} failed`);
          return 'error' as const;
        });
        if (outcome === 'timeout')
          this.log.warn(`Stopping ${name} timed out after ${this.timeoutMs} ms`);
      }
      this.log.info('Stopped');
    })();
    return this.shuttingDown;
  }
}
