import { GENESIS_HASH } from './canonical-entry';
import { ChainVerifier, type VerifyResult } from './chain-verifier';
import { chainStore, type Queryable } from './chain.store';
import type { Checkpoint } from './checkpoint';
import type { LinkReader } from './link-reader';

/** Positions read per batch while verifying (the next batch is read while one is checked). */
export const VERIFY_BATCH = 10_000;

type TrustedKeys = ConstructorParameters<typeof ChainVerifier>[0];

/**
 * A run of positions verified on its own: it starts from the stored hash of the position
 * before it, which the run before it checks, so runs can be verified in any order, or at
 * once, and their verdicts merged ({@link mergeChunks}) into the verdict of one pass.
 */
export interface ChunkTask {
  from: string;
  to: string;
  /** Every copy of every checkpoint in from..to. */
  checkpoints: Checkpoint[];
}

/** Verifies chunks (in any order, at once or not); see {@link mergeChunks} for what it owes. */
export type ChunkRunner = (tasks: ChunkTask[]) => Promise<(VerifyResult | undefined)[]>;

/** `from`..`to` cut into chunks of `size` positions, each with its checkpoints. */
export function chunkTasks(
  from: bigint,
  to: bigint,
  size: number,
  checkpoints: Checkpoint[],
): ChunkTask[] {
  const tasks: ChunkTask[] = [];
  const step = BigInt(Math.max(1, size));
  for (let a = from; a <= to; a += step) {
    const b = a + step - 1n < to ? a + step - 1n : to;
    tasks.push({
      from: a.toString(),
      to: b.toString(),
      checkpoints: checkpoints.filter((c) => BigInt(c.seq) >= a && BigInt(c.seq) <= b),
    });
  }
  return tasks;
}

/**
 * Verifies one chunk as one pass would: positions gapless, each hash recomputed, each
 * checkpoint in it checked; stops at the first problem.
 */
export async function verifyChunk(
  db: Queryable,
  reader: LinkReader,
  trusted: TrustedKeys,
  task: ChunkTask,
): Promise<VerifyResult> {
  const from = BigInt(task.from);
  const end = BigInt(task.to);
  const prevHash = from > 1n ? await chainStore.hashAt(db, from - 1n) : GENESIS_HASH;
  const verifier = new ChainVerifier(trusted, task.checkpoints, from, prevHash ?? GENESIS_HASH);
  if (!prevHash)
    verifier.fail((from - 1n).toString(), `position ${from - 1n} is missing from the chain`);
  // Windows of VERIFY_BATCH positions; the next one is read while this one is checked.
  const read = (a: bigint) => {
    const b = a + BigInt(VERIFY_BATCH) - 1n;
    return reader.read(a, b < end ? b : end);
  };
  let next = from; // the first position not seen yet
  let window = from;
  let batch = !verifier.failed && window <= end ? read(window) : Promise.resolve([]);
  while (!verifier.failed && window <= end) {
    const links = await batch;
    window += BigInt(VERIFY_BATCH);
    batch = window <= end ? read(window) : Promise.resolve([]);
    for (const link of links) if (!verifier.push(link)) break;
    if (links.length) next = BigInt(links[links.length - 1].seq) + 1n;
  }
  await batch.catch(() => undefined);
  if (!verifier.failed && next <= end)
    verifier.fail(next.toString(), `position ${next} is missing from the chain`);
  return verifier.finish({ endOfChain: false });
}

/**
 * One pass's verdict from the chunks' verdicts, in order: the positions checked up to the
 * first chunk that failed, its first problem, and the last checkpoint that held before it.
 * The runner must have finished every chunk before the first failed one (it may skip those
 * after it).
 */
export function mergeChunks(results: (VerifyResult | undefined)[]): VerifyResult {
  let checked = 0;
  let archived = 0;
  let lastCheckpoint: Checkpoint | null = null;
  for (const r of results) {
    if (!r) throw new Error('a chunk before the first failure was not verified');
    checked += r.checked;
    archived += r.archived;
    lastCheckpoint = r.lastCheckpoint ?? lastCheckpoint;
    if (!r.ok)
      return { ok: false, checked, archived, lastCheckpoint, firstInvalid: r.firstInvalid };
  }
  return { ok: true, checked, archived, lastCheckpoint, firstInvalid: null };
}

/** Runs the chunks one after the other on one connection, stopping at the first failure. */
export function sequentialRunner(
  db: Queryable,
  reader: LinkReader,
  trusted: TrustedKeys,
): ChunkRunner {
  return async (tasks) => {
    const results: VerifyResult[] = [];
    for (const task of tasks) {
      const r = await verifyChunk(db, reader, trusted, task);
      results.push(r);
      if (!r.ok) break;
    }
    return results;
  };
}
