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
