import { readFile } from 'node:fs/promises';
import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InvalidInputError } from '@/common';
import { DataSource } from 'typeorm';
import { isBigint } from '../query/action-log.search';
import { chainHash, entryDigest, GENESIS_HASH, type ChainedFields } from './canonical-entry';
import { ChainVerifier, type ChainLink, type VerifyResult } from './chain-verifier';
import { chainStore, type Queryable } from './chain.store';
import { parseCheckpoint, type Checkpoint } from './checkpoint';
import { SigningKeyProvider } from './signing-key.provider';
import type { PublicJwk } from './signing-keys';

/** Links read per query while verifying (the next batch is read while one is checked). */
const VERIFY_BATCH = 5_000;
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
    return verifyDatabase(this.dataSource, keys.trusted, fileCopies, range);
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
 * Verifies `fromSeq`..`toSeq` (default: the whole chain) of the database's chain, reading
 * the next batch while the current one is checked. Over the whole chain it also looks for
 * entries that the sealer passed over but that are in no position.
 */
export async function verifyDatabase(
  db: Queryable,
  trusted: VerifierKeys,
  extraCheckpoints: Checkpoint[],
  range: { fromSeq?: string; toSeq?: string },
): Promise<VerifyResult> {
  const head = await chainStore.head(db);
  const last = head ? BigInt(head.seq) : 0n;
  const from = range.fromSeq ? BigInt(range.fromSeq) : 1n;
  const to = range.toSeq ? BigInt(range.toSeq) : last;
  const end = to < last ? to : last;
  const endOfChain = to >= last;
  const prevHash = from > 1n ? await chainStore.hashAt(db, from - 1n) : GENESIS_HASH;
  const inRange = (c: Checkpoint) => BigInt(c.seq) >= from && (endOfChain || BigInt(c.seq) <= end);
  const checkpoints = [
    ...(await chainStore.checkpoints(db, from, endOfChain ? undefined : end)),
    ...extraCheckpoints.filter(inRange),
  ];
  const verifier = new ChainVerifier(trusted, checkpoints, from, prevHash ?? GENESIS_HASH);
  if (!prevHash)
    verifier.fail((from - 1n).toString(), `position ${from - 1n} is missing from the chain`);
  let next = from;
  let batch = next <= end ? chainStore.links(db, next, end, VERIFY_BATCH) : Promise.resolve([]);
  while (!verifier.failed) {
    const links = await batch;
    if (links.length === 0) break;
    next = BigInt(links[links.length - 1].seq) + 1n;
    batch = next <= end ? chainStore.links(db, next, end, VERIFY_BATCH) : Promise.resolve([]);
    for (const link of links) if (!verifier.push(link)) break;
  }
  await batch.catch(() => undefined);
  if (!verifier.failed && next <= end)
    verifier.fail(next.toString(), `position ${next} is missing from the chain`);
  if (!verifier.failed && from === 1n && endOfChain) {
    const outside = await chainStore.firstOutsideChain(db);
    if (outside)
      verifier.fail(null, `entry ${outside} is in the log but in no position of the chain`);
  }
  return verifier.finish({ endOfChain });
}

type VerifierKeys = ConstructorParameters<typeof ChainVerifier>[0];
