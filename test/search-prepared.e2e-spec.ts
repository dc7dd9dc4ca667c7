import { ActionLogQueryService } from '@/modules/auditing/query/action-log-query.service';
import { createTestApp, type TestApp } from './helpers/test-app';

/**
 * The searches' prepared statements (ActionLogQueryService.run with a generic plan): each
 * shape prepared once per connection, at most 64 kept per connection (the least recently used
 * goes), and values passed as literals, quotes and backslashes included.
 */
describe('Search statements prepared per connection', () => {
  let t: TestApp;
  let service: ActionLogQueryService;

  beforeAll(async () => {
    t = await createTestApp();
    service = t.app.get(ActionLogQueryService);
  });
  afterAll(() => t.close());

  const preparedHere = async () =>
    (
      await service.run<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'search_%'`,
        [],
        true,
      )
    )[0].n;

  it('keeps at most 64 per connection, prepares an evicted one again, and answers each right', async () => {
    // Sequential calls get the same pooled connection back (the pool hands out the last idle).
    for (let k = 0; k < 70; k++) {
      const rows = await service.run<{ n: number; s: string }>(
        `SELECT ${k}::int AS n, $1::text AS s`,
        [`it's a \\ value ${k}`],
        true,
      );
      expect(rows).toEqual([{ n: k, s: `it's a \\ value ${k}` }]);
    }
    expect(await preparedHere()).toBe(64);
    // The first shapes were evicted: run again, they are prepared anew.
    for (let k = 0; k < 3; k++) {
      const rows = await service.run<{ n: number }>(
        `SELECT ${k}::int AS n, $1::text AS s`,
        ['x'],
        true,
      );
      expect(rows[0].n).toBe(k);
    }
    expect(await preparedHere()).toBeLessThanOrEqual(64);
  });
});
