import {
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { PeriodicTask } from '@/common/periodic-task';
import { AuditEntryWriter, type PendingEntry } from './audit-entry.writer';

/** How often queued entries are written: well within the promised second. */
export const BACKGROUND_FLUSH_MS = 200;
/** Entries per round trip (one simple-query string of `audit_write` calls). */
const BATCH = 500;

/**
 * Entries that do not belong to a request's transaction and need not hold up its response:
 * reads of the audit trail, and rejected attempts (written after their request rolled back).
 * They are validated when queued and written every `BACKGROUND_FLUSH_MS`, up to `BATCH` per
 * round trip through `audit_write` (so the outbox and the failure policy apply as to any
 * entry), and on shutdown. A crash loses what was queued since the last flush.
 */
@Injectable()
export class AuditBackgroundQueue implements OnApplicationBootstrap, OnApplicationShutdown {
  private queue: PendingEntry[] = [];
  private readonly task = new PeriodicTask(() => this.drain(), BACKGROUND_FLUSH_MS);

  constructor(private readonly writer: AuditEntryWriter) {}

  onApplicationBootstrap(): void {
    this.task.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
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
