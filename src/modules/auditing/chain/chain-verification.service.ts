import { readFile } from 'node:fs/promises';
import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InvalidInputError } from '@/common';
import type { Client } from 'pg';
import { DataSource } from 'typeorm';
import { isBigint } from '../query/action-log.search';
import { chainHash, entryDigest, GENESIS_HASH, type ChainedFields } from './canonical-entry';
import { ChainVerifier, type ChainLink, type VerifyResult } from './chain-verifier';
import { chainStore, type Queryable } from './chain.store';
import { chunkTasks, mergeChunks, sequentialRunner, type ChunkRunner } from './chunked-verify';
import { linkReader } from './link-reader';
import { parseCheckpoint, type Checkpoint } from './checkpoint';
import { SigningKeyProvider } from './signing-key.provider';
import type { PublicJwk } from './signing-keys';

/** The longest proof served: the distance from an entry to the next checkpoint. */
const MAX_PROOF_LINKS = 100_000;

export interface ChainProof {
  /** The entry as the API shows it (with `seq` and `hash`). */
  entry: ChainedFields & { hash: string; hashVersion: number };
  hashVersion: number;
  /** The hash of the position before (32 zero bytes before the first). */
  prevHash: string;
  /** SHA-256 of the entry's canonical JSON. */
  digest: string;
  /** The digests of the entries after it, up to the checkpoint. */
  following: { seq: string; digest: string }[];
  checkpoint: Checkpoint;
  publicKey: PublicJwk;
}

/** Verification against the database (the endpoint and `npm run audit:verify`) and proofs. */
@Injectable()
export class ChainVerificationService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly keys: SigningKeyProvider,
  ) {}

  async verify(range: { fromSeq?: string; toSeq?: string } = {}): Promise<VerifyResult> {
    if (range.fromSeq && range.toSeq && BigInt(range.fromSeq) > BigInt(range.toSeq))
      throw new InvalidInputError('fromSeq must not be after toSeq');
    if (range.fromSeq) {
      const head = await chainStore.head(this.dataSource);
      const last = head ? BigInt(head.seq) : 0n;
      if (BigInt(range.fromSeq) > last)
        throw new InvalidInputError(
          `fromSeq is past the end of the chain (its last position is ${last})`,
        );
    }
    const keys = await this.keys.get();
    const fileCopies = await readCheckpointFile(this.keys.checkpointFile);
    // One connection, one snapshot (the sealer goes on meanwhile), read by COPY.
    const db = this.dataSource.createQueryRunner();
    try {
      const client = (await db.connect()) as Client;
      await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return await verifyDatabase(db, keys.trusted, fileCopies, range, {
        runner: sequentialRunner(db, linkReader(client), keys.trusted),
      });
    } finally {
      await db.query('ROLLBACK').catch(() => undefined);
      await db.release();
    }
  }

  publicKey(): Promise<PublicJwk> {
    return this.keys.get().then((k) => k.publicJwk);
  }

  async proof(entryId: string): Promise<ChainProof> {
    // Digits beyond a bigint name no entry (as for GET /action-logs/:id).
    if (!isBigint(entryId)) throw new NotFoundException(`Action log entry ${entryId} not found`);
    const [link] = await this.dataSource.query<{ exists: boolean; seq: string | null }[]>(
      `SELECT l.id IS NOT NULL AS exists, c.seq::text AS seq
       FROM (SELECT $1::bigint AS id) q
       LEFT JOIN action_log l ON l.id = q.id
       LEFT JOIN action_log_chain c ON c.entry_id = q.id`,
      [entryId],
    );
    if (!link.exists) throw new NotFoundException(`Action log entry ${entryId} not found`);
    if (!link.seq)
      throw new ConflictException(
        `Entry ${entryId} is not sealed into the chain yet; try again shortly`,
      );
    const seq = BigInt(link.seq);
    const checkpoint = await chainStore.checkpointFrom(this.dataSource, seq);
    if (!checkpoint)
      throw new ConflictException(
        `Entry ${entryId} is not covered by a signed checkpoint yet; try again shortly`,
      );
    if (BigInt(checkpoint.seq) - seq >= MAX_PROOF_LINKS)
      throw new ConflictException(`The next checkpoint is too far from entry ${entryId}`);
    const prevHash = seq > 1n ? await chainStore.hashAt(this.dataSource, seq - 1n) : GENESIS_HASH;
    const links = await chainStore.links(
      this.dataSource,
      seq,
      BigInt(checkpoint.seq),
      MAX_PROOF_LINKS,
    );
    const digests = links.map((l) =>
      l.entry ? entryDigest({ ...l.entry, seq: l.seq }, l.hashVersion) : null,
    );
    // A proof that does not hold is not served: the chain must be verified first.
    let hash = prevHash ?? Buffer.alloc(0);
    for (const d of digests) hash = d ? chainHash(hash, d) : Buffer.alloc(0);
    if (!prevHash || !links[0]?.entry || hash.toString('hex') !== checkpoint.hash)
      throw new ConflictException(
        `The chain does not hold between entry ${entryId} and its checkpoint: run GET /action-logs/verify`,
      );
    const first = links[0] as ChainLink & { entry: Omit<ChainedFields, 'seq'> };
    return {
      entry: { ...first.entry, seq: first.seq, hash: first.hash, hashVersion: first.hashVersion },
      hashVersion: first.hashVersion,
      prevHash: prevHash.toString('hex'),
      digest: digests[0]!.toString('hex'),
      following: links
        .slice(1)
        .map((l, i) => ({ seq: l.seq, digest: digests[i + 1]!.toString('hex') })),
      checkpoint,
      publicKey: (await this.keys.get()).publicJwk,
    };
  }
}

/** The checkpoints of a checkpoint file (missing file: none). Lines that are not one are skipped. */
export async function readCheckpointFile(file: string): Promise<Checkpoint[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const checkpoints: Checkpoint[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const c = parseCheckpoint(JSON.parse(line));
      if (c) checkpoints.push(c);
    } catch {
      // A torn last line (a crash while appending) is not a checkpoint.
    }
  }
  return checkpoints;
}

/**
 * Verifies `fromSeq`..`toSeq` (default: the whole chain) of the database's chain. Over the
 * whole chain it also looks for entries that the sealer passed over but that are in no
 * position. The range is cut into chunks (`chunkSize` positions) verified by `runner`: by
 * default one after the other on `db`; the CLI runs them in worker threads, on connections
 * that share its snapshot. Either way the verdict is that of one pass in order (the first
 * invalid position, the last checkpoint that held before it).
 */
export async function verifyDatabase(
  db: Queryable,
  trusted: VerifierKeys,
  extraCheckpoints: Checkpoint[],
  range: { fromSeq?: string; toSeq?: string },
  options: { runner?: ChunkRunner; chunkSize?: number } = {},
): Promise<VerifyResult> {
  const head = await chainStore.head(db);
  const last = head ? BigInt(head.seq) : 0n;
  const from = range.fromSeq ? BigInt(range.fromSeq) : 1n;
  const to = range.toSeq ? BigInt(range.toSeq) : last;
  const end = to < last ? to : last;
  const endOfChain = to >= last;
  const inRange = (c: Checkpoint) => BigInt(c.seq) >= from && (endOfChain || BigInt(c.seq) <= end);
  const checkpoints = [
    ...(await chainStore.checkpoints(db, from, endOfChain ? undefined : end)),
    ...extraCheckpoints.filter(inRange),
  ];
  const runner = options.runner ?? sequentialRunner(db, linkReader(db), trusted);
  // An empty range still starts from the position before it (which must exist).
  const tasks = chunkTasks(from, end, options.chunkSize ?? CHUNK_SIZE, checkpoints);
  if (tasks.length === 0 && from > 1n)
    tasks.push({ from: from.toString(), to: (from - 1n).toString(), checkpoints: [] });
  const result = mergeChunks(await runner(tasks));
  if (!result.ok) return result;
  const verifier = new ChainVerifier(trusted, checkpoints, end + 1n);
  if (from === 1n && endOfChain) {
    const outside = await chainStore.firstOutsideChain(db);
    if (outside)
      verifier.fail(null, `entry ${outside} is in the log but in no position of the chain`);
  }
  // A signed checkpoint past the end: the tail was cut off.
  const tail = verifier.finish({ endOfChain });
  return tail.ok ? result : { ...result, ok: false, firstInvalid: tail.firstInvalid };
}

/** Positions per chunk: large enough that a chunk's fixed costs do not show. */
const CHUNK_SIZE = 50_000;

type VerifierKeys = ConstructorParameters<typeof ChainVerifier>[0];
