/**
 * A background pass run every `intervalMs` (timer unref'd, so it never keeps the process
 * alive). Calls made while a pass is running share it, so passes never overlap in one
 * process; `stop()` clears the timer and waits for the pass in flight.
 *
 * A pass that uses the database stops in `beforeApplicationShutdown`, not in
 * `onApplicationShutdown`: Nest closes the database pool (TypeORM's global module) before
 * the shutdown hooks of the modules that use it, and a pass still running then would have its
 * connection, mid-transaction, handed to another statement.
 */
export class PeriodicTask<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;

  constructor(
    private readonly pass: () => Promise<T>,
    private readonly intervalMs: number,
  ) {}

  start({ runNow = false } = {}): void {
    if (runNow) void this.run();
    this.timer = setInterval(() => void this.run(), this.intervalMs);
    this.timer.unref();
  }

  run(): Promise<T> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Resolves when the pass in flight (if any) has finished. */
  async settled(): Promise<void> {
    await this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
