import { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/**
 * The one-round-trip audit write, owned here. Two library behaviours are relied upon, and
 * `lean-transaction-adapter.e2e-spec.ts` pins each, so an upgrade of TypeORM or nestjs-cls
 * fails a test rather than production:
 * - nestjs-cls/transactional calls the adapter's `wrapWithTransaction(options, fn, setClient)`
 *   for every outer transaction, and `txHost.tx` is the manager given to `setClient`;
 * - TypeORM's PostgresQueryRunner decides between BEGIN and SAVEPOINT by its
 *   `transactionDepth` (so nested transactions inside ours use savepoints), and exposes the
 *   pg client as `databaseConnection`.
 */

/** The pg client of a connected query runner, as far as this file uses it. */
interface PgClient {
  query(text: string): Promise<{ rows: unknown[] } | { rows: unknown[] }[]>;
}

/** The transaction state TypeORM keeps in a query runner (`transactionDepth` is private). */
interface RunnerTransactionState {
  isTransactionActive: boolean;
  transactionDepth: number;
}

/** What TypeORM's `startTransaction` / `commitTransaction` would have set. */
function setTransactionState(runner: QueryRunner, open: boolean): void {
  const state = runner as unknown as RunnerTransactionState;
  state.isTransactionActive = open;
  state.transactionDepth = open ? 1 : 0;
}

const BEFORE_COMMIT = 'mcp:beforeCommit';

/**
 * A statement to run as the last one of the transaction, sent in the same round trip as
 * COMMIT (simple-query protocol, so its values are inlined as escaped literals).
 */
export interface BeforeCommitStatement {
  sql: string;
  /** Receives the statement's rows once the transaction has committed. */
  onCommitted(rows: unknown[]): void;
  /** Maps an error raised by this statement to the error the caller sees. */
  onFailed(error: unknown): unknown;
  /** Whether `error` was raised by this statement (and not by the COMMIT itself). */
  raised(error: unknown): boolean;
}

function queueOf(runner: QueryRunner | undefined): BeforeCommitStatement[] | undefined {
  return runner?.data?.[BEFORE_COMMIT] as BeforeCommitStatement[] | undefined;
}

/**
 * Queues `statement` to run with the COMMIT of the transaction `manager` belongs to. Returns
 * false when there is no such transaction (the caller should run the statement itself).
 */
export function runBeforeCommit(manager: EntityManager, statement: BeforeCommitStatement): boolean {
  const queue = queueOf(manager.queryRunner);
  if (!queue) return false;
  queue.push(statement);
  return true;
}

/**
 * `TransactionalAdapterTypeOrm` with a leaner outer transaction: BEGIN and COMMIT go straight
 * to the pooled pg connection instead of through TypeORM's `transaction()` (which wraps each
 * in subscriber broadcasts and its query pipeline). On this CPU-bound machine each statement's
 * Node-side overhead is a measurable share of a one-insert request (see `npm run bench`).
 * Statements queued with `runBeforeCommit` share the COMMIT's round trip.
 * Nested transactions still use TypeORM's savepoints. TypeORM transaction-event subscribers
 * (before/after commit) do not fire for these transactions; entity events (insert, update…) do.
 */
export class LeanTransactionalAdapterTypeOrm extends TransactionalAdapterTypeOrm {
  constructor(options: ConstructorParameters<typeof TransactionalAdapterTypeOrm>[0]) {
    super(options);
    const base = this.optionsFactory;
    this.optionsFactory = (dataSource: DataSource) => ({
      ...base(dataSource),
      wrapWithTransaction: (options, fn: () => Promise<unknown>, setClient): Promise<unknown> =>
        track(dataSource, runTransaction(dataSource, options?.isolationLevel, fn, setClient)),
    });
  }
}

/** The outer transactions in flight, by the data source they run on. */
const inFlight = new WeakMap<DataSource, Set<Promise<unknown>>>();

function track(dataSource: DataSource, transaction: Promise<unknown>): Promise<unknown> {
  let open = inFlight.get(dataSource);
  if (!open) inFlight.set(dataSource, (open = new Set()));
  const settled = transaction.then(
    () => undefined,
    () => undefined,
  );
  open.add(settled);
  void settled.then(() => open.delete(settled));
  return transaction;
}

/** How many outer transactions are in flight on `dataSource`. */
export function openTransactions(dataSource: DataSource): number {
  return inFlight.get(dataSource)?.size ?? 0;
}

/**
 * Resolves once no outer transaction is in flight on `dataSource` (those that start while it
 * waits included), or after `timeoutMs`; returns how many are still open. Nest closes the pool
 * in its shutdown hooks, once the HTTP server has closed; but a request whose client went away
 * is still running, and a pool closed under it would hand its connection, mid-transaction, to
 * the next statement waiting for one. Shutdown waits here first.
 */
export async function transactionsSettled(
  dataSource: DataSource,
  timeoutMs: number,
): Promise<number> {
  const open = inFlight.get(dataSource);
  const deadline = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  try {
    while (open?.size && Date.now() < deadline) {
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadline - Date.now());
      });
      await Promise.race([Promise.all(open), timeout]);
      clearTimeout(timer);
    }
  } finally {
    clearTimeout(timer);
  }
  return open?.size ?? 0;
}

async function runTransaction(
  dataSource: DataSource,
  isolation: string | undefined,
  fn: () => Promise<unknown>,
  setClient: (manager: EntityManager) => void,
): Promise<unknown> {
  const runner = dataSource.createQueryRunner();
  const client = (await runner.connect()) as PgClient;
  try {
    await client.query(isolation ? `BEGIN ISOLATION LEVEL ${isolation}` : 'BEGIN');
    setTransactionState(runner, true);
    const queue: BeforeCommitStatement[] = [];
    runner.data = { ...runner.data, [BEFORE_COMMIT]: queue };
    setClient(runner.manager);
    let result: unknown;
    try {
      result = await fn();
    } catch (error) {
      // The handler's error is what the caller must see, even if ROLLBACK fails too
      // (a broken connection rolls back by itself).
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    await commit(client, queue);
    return result;
  } finally {
    setTransactionState(runner, false);
    delete (runner.data as Record<string, unknown>)[BEFORE_COMMIT];
    await runner.release();
  }
}

async function commit(client: PgClient, queue: BeforeCommitStatement[]): Promise<void> {
  if (queue.length === 0) {
    await client.query('COMMIT');
    return;
  }
  let results: { rows: unknown[] }[];
  try {
    const raw = await client.query(`${queue.map((q) => q.sql).join(';\n')};\nCOMMIT`);
    results = Array.isArray(raw) ? raw : [raw];
  } catch (error) {
    // An error stops the query string: COMMIT never ran, the transaction is aborted.
    await client.query('ROLLBACK').catch(() => undefined);
    const culprit = queue.find((q) => q.raised(error));
    throw culprit ? culprit.onFailed(error) : error;
  }
  queue.forEach((q, i) => q.onCommitted(results[i]?.rows ?? []));
}
