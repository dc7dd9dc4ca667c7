import { SelectQueryBuilder, type ObjectLiteral } from 'typeorm';
import { UUID } from '@/common/validation/validators';
import { decodeCursor, invalidCursor, toPage, type Page } from './cursor';
import type { PageQueryDto } from './page-query.dto';

/**
 * Runs `qb` newest first by (createdAt, id) — millisecond timestamps and uuid ids — as one
 * keyset page: the cursor is the last item's (createdAt, id).
 */
export async function newestFirstPage<T extends ObjectLiteral & { createdAt: Date; id: string }>(
  qb: SelectQueryBuilder<T>,
  alias: string,
  query: PageQueryDto,
): Promise<Page<T>> {
  qb.orderBy(`${alias}.createdAt`, 'DESC')
    .addOrderBy(`${alias}.id`, 'DESC')
    .limit(query.limit + 1);
  if (query.cursor) {
    const [createdAt, id] = decodeCursor(query.cursor, ['string', 'string']);
    if (Number.isNaN(Date.parse(String(createdAt))) || !UUID.test(String(id))) {
      invalidCursor();
    }
    qb.andWhere(`(${alias}.createdAt, ${alias}.id) < (:createdAt, :id)`, { createdAt, id });
  }
  return toPage(await qb.getMany(), query.limit, (last) => [last.createdAt.toISOString(), last.id]);
}

/**
 * Runs `qb` in ascending order of a unique text column (`name`, say) as one keyset page: the
 * cursor is the last item's value. Add your filters to `qb` first (with `andWhere`).
 *
 * @example
 * const qb = this.invoices.createQueryBuilder('i');
 * if (query.name) qb.andWhere('i.name LIKE :prefix', { prefix: `${query.name}%` });
 * return ascendingPage(qb, 'i', 'name', query);
 */
export async function ascendingPage<T extends ObjectLiteral>(
  qb: SelectQueryBuilder<T>,
  alias: string,
  column: keyof T & string,
  query: PageQueryDto,
): Promise<Page<T>> {
  qb.orderBy(`${alias}.${column}`, 'ASC').limit(query.limit + 1);
  if (query.cursor) {
    const [after] = decodeCursor(query.cursor, ['string']);
    qb.andWhere(`${alias}.${column} > :after`, { after });
  }
  return toPage(await qb.getMany(), query.limit, (last) => [String(last[column])]);
}
