/**
 * A background pass run every `intervalMs` (timer unref'd, so it never keeps the process
 * alive). Calls made while a pass is running share it, so passes never overlap in one
 * process; `stop()` clears the timer and waits for the pass in flight.
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
