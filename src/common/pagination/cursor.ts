import { BadRequestException } from '@nestjs/common';
import { isUnsafeText } from '@/common/validation/unsafe-input';

export const MAX_PAGE_SIZE = 200;
export const DEFAULT_PAGE_SIZE = 50;

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

/** Opaque keyset cursors: the sort key of the last item, base64url-encoded JSON. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function invalidCursor(): never {
  throw new BadRequestException('cursor is not valid (use the nextCursor of a previous page)');
}

export function decodeCursor(
  cursor: string,
  shape: readonly ('string' | 'number')[],
): (string | number)[] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(key) &&
      key.length === shape.length &&
      key.every((v, i) => typeof v === shape[i]) &&
      // A forged cursor is input too: its strings reach SQL (PostgreSQL refuses NUL).
      key.every((v) => typeof v !== 'string' || !isUnsafeText(v))
    ) {
      return key as (string | number)[];
    }
  } catch {
    /* fall through */
  }
  return invalidCursor();
}

/** Builds a page from `limit + 1` fetched rows. */
export function toPage<T>(
  rows: T[],
  limit: number,
  keyOf: (last: T) => (string | number)[],
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(keyOf(last)) : null };
}
