import { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { DataSource } from 'typeorm';
import { createTestApp } from './helpers/test-app';

/**
 * Nest closes the database pool in its shutdown hooks, once the HTTP server has closed. A
 * request whose client went away is still running then: a pool closed under its transaction
 * would hand the connection, mid-transaction, to the next statement waiting for one (two
 * requests' statements in one transaction, a change committed by another request's COMMIT).
 * Shutdown waits for the transactions in flight first. (Its own file: it closes its app, and
 * the log lines it watches are the process's.)
 */
describe('Shutdown with a transaction in flight', () => {
  it('lets the transaction end before the pool closes', async () => {
    let shutdownWaits!: () => void;
    const waiting = new Promise<void>((resolve) => (shutdownWaits = resolve));
    const own = await createTestApp({
      env: { LOG_LEVEL: 'warn' },
      logStream: {
        write: (line: string) => {
          if (line.includes('Waiting for the transactions')) shutdownWaits();
        },
      },
    });
    await own.db.query(`CREATE TABLE drain_probe (n int)`);
    const host = own.app.get<TransactionHost<TransactionalAdapterTypeOrm>>(TransactionHost);
    const dataSource = own.app.get(DataSource);
    let ended = false;
    let openWhenPoolCloses: boolean | undefined;
    const destroy = dataSource.destroy.bind(dataSource);
    dataSource.destroy = () => {
      openWhenPoolCloses = !ended;
      shutdownWaits(); // without the wait, the transaction goes on under a closing pool
      return destroy();
    };
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const work = host
      .withTransaction(async () => {
        await host.tx.query(`INSERT INTO drain_probe VALUES (1)`);
        entered();
        await waiting;
        await host.tx.query(`INSERT INTO drain_probe VALUES (2)`);
      })
      .then(
        () => ((ended = true), undefined),
        (error: unknown) => ((ended = true), error),
      );
    await inside;
    const closing = own.app.close();
    expect(await work).toBeUndefined();
    await closing;
    expect(openWhenPoolCloses).toBe(false);
    const { rows } = await own.db.query<{ n: number }>(`SELECT n FROM drain_probe ORDER BY n`);
    expect(rows.map((r) => r.n)).toEqual([1, 2]);
    await own.close();
  });
});
