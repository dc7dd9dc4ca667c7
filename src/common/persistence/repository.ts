import {
  QueryFailedError,
  type FindOptionsWhere,
  type ObjectLiteral,
  type Repository,
} from 'typeorm';
import { ConflictError, NotFoundError } from '@/common/errors/domain-error';
import { UUID } from '@/common/validation/validators';

export interface FindOr404Options {
  /**
   * Read the row `FOR UPDATE` (needs a transaction: use a repository from `txHost.tx`).
   * Lock before a change when concurrent changes must form a clean chain: each waits for the
   * previous one, so every audit entry's `from` is the previous entry's `to`.
   */
  lock?: boolean;
}

/**
 * One row by its uuid `id`, or a `NotFoundError` (404, "`what` `id` not found"). An id that is
 * not a lower-case uuid is a 404 too: it names nothing (and never reaches PostgreSQL as a cast
 * error).
 *
 * @example
 * const invoices = this.txHost.tx.getRepository(Invoice);
 * const invoice = await findOr404(invoices, id, 'Invoice', { lock: true });
 */
export async function findOr404<T extends ObjectLiteral & { id: string }>(
  repo: Repository<T>,
  id: string,
  what: string,
  options: FindOr404Options = {},
): Promise<T> {
  if (!UUID.test(id)) throw new NotFoundError(what, id);
  const found = await repo.findOne({
    where: { id } as FindOptionsWhere<T>,
    ...(options.lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
  });
  if (!found) throw new NotFoundError(what, id);
  return found;
}

/**
 * Whether `error` is PostgreSQL's unique violation (23505), optionally of one named constraint
 * (name your constraints in the migration and mirror them on the entity, so this can tell
 * them apart).
 */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: string; constraint?: string } | undefined;
  return (
    driverError?.code === '23505' &&
    (constraint === undefined || driverError.constraint === constraint)
  );
}

/**
 * `repo.save(entity)`, with a unique violation turned into a `ConflictError` (409) carrying
 * your message. Without `constraint`, any unique violation is this conflict; other errors
 * pass through. (Unhandled unique violations still become a 409, with PostgreSQL's detail as
 * the message; this gives the caller a sentence instead.)
 *
 * @example
 * return saveOr409(invoices, invoice, `An invoice named "${invoice.name}" already exists`, {
 *   constraint: 'invoices_name_key',
 * });
 */
export async function saveOr409<T extends ObjectLiteral>(
  repo: Repository<T>,
  entity: T,
  conflictMessage: string,
  options: { constraint?: string } = {},
): Promise<T> {
  try {
    return await repo.save(entity);
  } catch (error) {
    if (isUniqueViolation(error, options.constraint)) throw new ConflictError(conflictMessage);
    throw error;
  }
}
