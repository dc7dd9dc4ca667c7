import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { VerifyResult } from './chain-verifier';
import type { ChunkRunner } from './chunked-verify';
import type { VerifyWorkerData, WorkerReply, WorkerRequest } from './verify-worker';

/**
 * Runs the chunks of a verification in `count` worker threads (verify-worker.js), each on
 * its own connection in the snapshot `snapshot` (pg_export_snapshot() of the caller's
 * REPEATABLE READ transaction, which must stay open until `close`). Chunks are handed out in
 * order, one at a time to whichever worker is free; once a chunk fails, no later chunk is
 * handed out, and the earlier ones still running are awaited, which is what mergeChunks needs.
 */
export async function workerRunner(options: {
  url: string;
  snapshot: string;
  trusted: Map<string, KeyObject>;
  count: number;
}): Promise<{ runner: ChunkRunner; close: () => Promise<void> }> {
  const data: VerifyWorkerData = {
    url: options.url,
    snapshot: options.snapshot,
    trusted: options.trusted,
  };
  const workers = await Promise.all(
    Array.from({ length: Math.max(1, options.count) }, () => start(data)),
  );
  const runner: ChunkRunner = (tasks) =>
    new Promise((resolve, reject) => {
      const results: (VerifyResult | undefined)[] = new Array<VerifyResult | undefined>(
        tasks.length,
      );
      let next = 0;
      let stopAt = tasks.length;
      let inFlight = 0;
      let failed = false;
      const listeners: (() => void)[] = [];
      const cleanup = () => listeners.splice(0).forEach((off) => off());
      const dispatch = (worker: Worker) => {
        if (failed || next >= stopAt) {
          if (inFlight === 0) resolve(results.slice(0, stopAt));
          return;
        }
        const index = next++;
        inFlight++;
        worker.postMessage({ index, task: tasks[index] } satisfies WorkerRequest);
      };
      for (const worker of workers) {
        const onMessage = (reply: WorkerReply) => {
          if (!('index' in reply)) return;
          inFlight--;
          if ('error' in reply) {
            failed = true;
            cleanup();
            reject(new Error(reply.error));
            return;
          }
          results[reply.index] = reply.result;
          if (!reply.result.ok) stopAt = Math.min(stopAt, reply.index + 1);
          if (next >= stopAt && inFlight === 0) {
            cleanup();
            resolve(results.slice(0, stopAt));
            return;
          }
          dispatch(worker);
        };
        const onError = (error: Error) => {
          failed = true;
          cleanup();
          reject(error);
        };
        worker.on('message', onMessage);
        worker.on('error', onError);
        listeners.push(() => {
          worker.off('message', onMessage);
          worker.off('error', onError);
        });
      }
      if (tasks.length === 0) {
        cleanup();
        resolve([]);
        return;
      }
      for (const worker of workers) dispatch(worker);
    });
  const close = async () => {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.postMessage('close');
            // A worker that does not leave on its own is stopped.
            setTimeout(() => void w.terminate(), 5_000).unref();
          }),
      ),
    );
  };
  return { runner, close };
}

/** See verify-cli.ts (the same for its own thread, as --max-semi-space-size=64). */
const YOUNG_GENERATION_MB = 192;

/** A worker, once its connection is in the snapshot. */
function start(data: VerifyWorkerData): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(join(__dirname, 'verify-worker.js'), {
      workerData: data,
      // A batch in flight outlives a default young generation: room for it costs less GC.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    const onError = (error: Error) => reject(error);
    worker.once('error', onError);
    worker.once('message', (reply: WorkerReply) => {
      worker.off('error', onError);
      if ('ready' in reply) resolve(worker);
      else reject(new Error('the verify worker did not start'));
    });
  });
}
