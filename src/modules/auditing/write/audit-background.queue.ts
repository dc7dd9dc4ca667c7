import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { PeriodicTask } from '@/common/periodic-task';
import type { Env } from '@/config/env';
import { AuditEntryWriter, type PendingEntry } from './audit-entry.writer';
import { openTransactions, transactionsSettled } from './lean-transaction-adapter';

/** How often queued entries are written: well within the promised second. */
export const BACKGROUND_FLUSH_MS = 200;
/** Entries per round trip (one simple-query string of `audit_write` calls). */
const BATCH = 500;

/**
 * Entries that do not belong to a request's transaction and need not hold up its response:
 * reads of the audit trail, and rejected attempts (written after their request rolled back).
 * They are validated when queued and written every `BACKGROUND_FLUSH_MS`, up to `BATCH` per
 * round trip through `audit_write` (an entry whose insert fails goes to the outbox), and at
 * shutdown: when the HTTP server has closed, the transactions of requests still running
 * (their clients gone) have ended, and before the database pool closes. A crash loses what
 * was queued since the last flush.
 */
@Injectable()
export class AuditBackgroundQueue implements OnApplicationBootstrap, OnApplicationShutdown {
  private queue: PendingEntry[] = [];
  private readonly task = new PeriodicTask(() => this.drain(), BACKGROUND_FLUSH_MS);
  private readonly beforeFinal: (() => void)[] = [];
  private readonly logger = new Logger('AuditBackgroundQueue');
  /**
   * How long shutdown waits for transactions in flight: half its bound, so the rest of the
   * close (the last flush, the pool) still fits in SHUTDOWN_TIMEOUT_MS.
   */
  private readonly drainTimeoutMs: number;

  constructor(
    private readonly writer: AuditEntryWriter,
    private readonly adapterHost: HttpAdapterHost,
    private readonly dataSource: DataSource,
    config: ConfigService<Env, true>,
  ) {
    this.drainTimeoutMs = Math.floor(config.get('SHUTDOWN_TIMEOUT_MS', { infer: true }) / 2);
  }

  /** `fn` runs just before the last flush (e.g. to queue what is still being counted). */
  beforeFinalFlush(fn: () => void): void {
    this.beforeFinal.push(fn);
  }

  onApplicationBootstrap(): void {
    this.task.start();
    // Nest destroys the database pool in its shutdown hooks (before this module's own), after
    // the HTTP server has closed: the server's own close hook is the moment when the database
    // is still there. Requests whose clients went away may still be running: their
    // transactions end first (and may queue entries), then the last flush.
    const server = this.adapterHost.httpAdapter?.getInstance<{
      addHook?: (name: 'onClose', fn: () => Promise<void>) => void;
    }>();
    server?.addHook?.('onClose', async () => {
      await this.transactionsEnded();
      await this.finalFlush();
    });
  }

  private async transactionsEnded(): Promise<void> {
    if (openTransactions(this.dataSource) === 0) return;
    this.logger.warn('Waiting for the transactions of requests still running before closing');
    const open = await transactionsSettled(this.dataSource, this.drainTimeoutMs);
    if (open > 0) {
      this.logger.error(
        { open },
        'Transactions still running after the shutdown timeout; the pool closes under them',
      );
    }
  }

  /** Last resort (no HTTP server): whatever is left, stored or logged. */
  onApplicationShutdown(): Promise<void> {
    return this.finalFlush();
  }

  private async finalFlush(): Promise<void> {
    await this.task.stop();
    for (const fn of this.beforeFinal) fn();
    await this.drain();
  }

  enqueue(pending: PendingEntry): void {
    this.queue.push(pending);
  }

  get size(): number {
    return this.queue.length;
  }

  /**
   * Writes everything queued so far (waiting for a flush in progress first); resolves when it
   * is stored (or, if it could not be, logged). Returns how many entries were stored.
   */
  async flush(): Promise<number> {
    await this.task.settled();
    return this.task.run();
  }

  private async drain(): Promise<number> {
    let stored = 0;
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, BATCH);
      this.queue = this.queue.slice(batch.length);
      stored += await this.writer.writeBatch(batch);
    }
    return stored;
  }
}
