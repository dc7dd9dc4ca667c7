import { Logger as NestLogger } from '@nestjs/common';
import type { Logger as TypeOrmLoggerInterface } from 'typeorm';

/**
 * TypeORM's own messages (pool errors, migrations, warnings) through the application's
 * logger, so they are JSON lines like the rest (TypeORM's default logger prints to the
 * console). Queries, their errors and parameters are never logged here: parameters are user
 * data and may be secrets, and a failed query reaches its caller (or the exception filter,
 * which logs it with the request id).
 */
export class TypeOrmLogger implements TypeOrmLoggerInterface {
  private readonly logger = new NestLogger('TypeORM');

  logQuery(): void {}

  logQueryError(): void {}

  logQuerySlow(time: number): void {
    this.logger.warn({ durationMs: time }, 'Slow query');
  }

  logSchemaBuild(): void {}

  logMigration(message: string): void {
    this.logger.log(message);
  }

  /** Warnings only (as `logging: ['warn', 'migration']` did); its info lines are chatter. */
  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level !== 'warn') return;
    this.logger.warn(message instanceof Error ? message.message : String(message));
  }
}
