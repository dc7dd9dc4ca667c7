import { parentPort, workerData } from 'node:worker_threads';
import { Client } from 'pg';
import type { KeyObject } from 'node:crypto';
import { verifyChunk, type ChunkTask } from './chunked-verify';
import { linkReader } from './link-reader';

/**
 * A worker thread of `npm run audit:verify` (see parallel-verify.ts): its own connection,
 * inside the snapshot the CLI exported (so every worker sees the one state of the chain the
 * CLI sees), verifying the chunks it is sent one at a time.
 */
export interface VerifyWorkerData {
  url: string;
  /** pg_export_snapshot() of the CLI's transaction. */
  snapshot: string;
  trusted: Map<string, KeyObject>;
}

export type WorkerRequest = { index: number; task: ChunkTask };
export type WorkerReply =
  | { ready: true }
  | { index: number; result: Awaited<ReturnType<typeof verifyChunk>> }
  | { index: number; error: string };

async function main(): Promise<void> {
  const port = parentPort!;
  const { url, snapshot, trusted } = workerData as VerifyWorkerData;
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (!/^[0-9A-Fa-f-]+$/.test(snapshot)) throw new Error(`Not a snapshot id: ${snapshot}`);
  await client.query(`SET TRANSACTION SNAPSHOT '${snapshot}'`);
  const db = {
    query: async (sql: string, params?: unknown[]): Promise<unknown> =>
      (await client.query(sql, params)).rows,
  };
  const reader = linkReader(client);
  port.on('message', (message: WorkerRequest | 'close') => {
    if (message === 'close') {
      void client.end().finally(() => port.close());
      return;
    }
    verifyChunk(db, reader, trusted, message.task).then(
      (result) => port.postMessage({ index: message.index, result } satisfies WorkerReply),
      (error: unknown) =>
        port.postMessage({
          index: message.index,
          error: error instanceof Error ? error.message : String(error),
        } satisfies WorkerReply),
    );
  });
  port.postMessage({ ready: true } satisfies WorkerReply);
}

main().catch((error: unknown) => {
  // The thread's error event carries it to the CLI.
  throw error;
});
