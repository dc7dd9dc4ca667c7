import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';
import { serializeError } from '@/common/logging/logging.module';
import { PeriodicTask } from '@/common/periodic-task';
import type { Env } from '@/config/env';
import {
  chainHash,
  entryDigest,
  GENESIS_HASH,
  HASH_VERSION,
  type ChainedFields,
} from './canonical-entry';
import { ENTRY_JSON, TIMESTAMP_US, chainStore, type Queryable } from './chain.store';
import { signCheckpoint, type Checkpoint } from './checkpoint';
import { SigningKeyProvider } from './signing-key.provider';

/** Entries chained per transaction. */
const BATCH = 5000;

/**
 * The next entries to chain ($1: the horizon, $2: how many), in chain order. The cursor is read
 * as an InitPlan: its two values become index bounds on every partition's (tx, id) index.
 * Joined to the state row instead, the planner walks the whole log's index (and, over a
 * million entries, spent ~0.75 s per pass, a core's worth every 200 ms).
 */
export const SEAL_CANDIDATES_SQL = `SELECT l.tx::text AS tx, l.id::text AS id, ${ENTRY_JSON('l')} AS entry
         FROM action_log l
         WHERE (l.tx, l.id) > (SELECT last_tx, last_id FROM audit_chain_state) AND l.tx < $1
         ORDER BY l.tx, l.id
         LIMIT $2`;

/** Any number: the id of the advisory lock that makes one sealer at a time chain entries. */
export const SEALER_LOCK = 7_305_011_917;

interface Head {
  seq: string;
  hash: Buffer;
}

interface Candidate {
  tx: string;
  id: string;
  entry: Omit<ChainedFields, 'seq'>;
}

export interface SealPass {
  chained: number;
  checkpoint: Checkpoint | null;
}

/**
 * Chains stored entries in batches: under an advisory lock (one sealer at a time, across
 * instances), it takes the entries of transactions that have ended — `tx` below the oldest
 * transaction still running — that are in no position yet, in `(tx, id)` order, gives them
 * the next positions and hashes, and records how far it got. An entry whose transaction is
 * still in flight (even with a smaller id) waits for a later pass: it can only land after
 * what is chained already, never outside the chain, and the unique `entry_id` keeps anything
 * from being chained twice. Writers pay nothing for the chain but a column default.
 *
 * Then, every AUDIT_CHECKPOINT_EVERY entries or AUDIT_CHECKPOINT_SECONDS, it signs the head
 * (Ed25519) in the same transaction, and appends the checkpoint to AUDIT_CHECKPOINT_FILE once
 * committed.
 */
async function tryLock(db: Queryable): Promise<boolean> {
  const [{ locked }] = (await db.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, [
    SEALER_LOCK,
  ])) as { locked: boolean }[];
  return locked;
}

/** See `audit_sealing_horizon()` (migration AuditHashChain). */
async function sealingHorizon(db: Queryable): Promise<string> {
  const [{ horizon }] = (await db.query(`SELECT audit_sealing_horizon()::text AS horizon`)) as {
    horizon: string;
  }[];
  return horizon;
}

@Injectable()
export class ChainSealer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ChainSealer.name);
  private readonly task: PeriodicTask<SealPass>;
  private readonly intervalMs: number;
  private readonly every: number;
  private readonly seconds: number;
  /** The last pass's failure (for the admin view); null once a pass succeeds. */
  lastError: string | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly keys: SigningKeyProvider,
    config: ConfigService<Env, true>,
  ) {
    this.intervalMs = config.get('AUDIT_SEAL_INTERVAL_MS', { infer: true });
    this.every = config.get('AUDIT_CHECKPOINT_EVERY', { infer: true });
    this.seconds = config.get('AUDIT_CHECKPOINT_SECONDS', { infer: true });
    this.task = new PeriodicTask(() => this.sealAvailable(), Math.max(this.intervalMs, 1));
  }

  get enabled(): boolean {
    return this.intervalMs > 0;
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.task.start({ runNow: true });
  }

  /** Stops before the pool closes (see PeriodicTask). */
  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /** Chains everything that can be chained now (concurrent calls share one run). */
  seal(): Promise<SealPass> {
    return this.task.run();
  }

  private async sealAvailable(): Promise<SealPass> {
    const total: SealPass = { chained: 0, checkpoint: null };
    this.lastError = null;
    try {
      for (;;) {
        const pass = await this.sealBatch();
        total.chained += pass.chained;
        total.checkpoint = pass.checkpoint ?? total.checkpoint;
        if (pass.chained < BATCH) break;
      }
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      this.logger.warn(
        { err: serializeError(error) },
        'Sealing the audit chain failed; will try again',
      );
    }
    return total;
  }

  private async sealBatch(): Promise<SealPass> {
    const runner = this.dataSource.createQueryRunner();
    let checkpoints: Checkpoint[];
    let chained: number;
    try {
      await runner.startTransaction();
      const locked = await tryLock(runner);
      if (!locked) {
        await runner.rollbackTransaction();
        return { chained: 0, checkpoint: null };
      }
      const horizon = await sealingHorizon(runner);
      const candidates = (await runner.query(SEAL_CANDIDATES_SQL, [horizon, BATCH])) as Candidate[];
      chained = candidates.length;
      const heads = chained > 0 ? await this.chain(runner, candidates) : [];
      checkpoints = await this.checkpointIfDue(runner, heads);
      await runner.commitTransaction();
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
    if (checkpoints.length) await this.appendToFile(checkpoints);
    return { chained, checkpoint: checkpoints[checkpoints.length - 1] ?? null };
  }

  /**
   * Gives the candidates the next positions and hashes, and moves the cursor past them.
   * Returns the positions where a checkpoint falls due by count (every AUDIT_CHECKPOINT_EVERY)
   * and the new head, so a long batch still gets its checkpoints at the regular spacing.
   */
  private async chain(db: Queryable, candidates: Candidate[]): Promise<Head[]> {
    const head = await chainStore.head(db);
    let seq = head ? BigInt(head.seq) : 0n;
    let prev = head?.hash ?? GENESIS_HASH;
    const every = BigInt(this.every);
    const seqs: string[] = [];
    const ids: string[] = [];
    const hashes: Buffer[] = [];
    const heads: Head[] = [];
    for (const { id, entry } of candidates) {
      seq++;
      prev = chainHash(prev, entryDigest({ ...entry, seq: seq.toString() }));
      seqs.push(seq.toString());
      ids.push(id);
      hashes.push(prev);
      if (seq % every === 0n) heads.push({ seq: seq.toString(), hash: prev });
    }
    if (heads[heads.length - 1]?.seq !== seq.toString())
      heads.push({ seq: seq.toString(), hash: prev });
    await db.query(
      `INSERT INTO action_log_chain (seq, entry_id, hash, hash_version)
       SELECT s, e, h, $4 FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]) AS t(s, e, h)`,
      [seqs, ids, hashes, HASH_VERSION],
    );
    const last = candidates[candidates.length - 1];
    await db.query(`UPDATE audit_chain_state SET last_tx = $1, last_id = $2`, [last.tx, last.id]);
    return heads;
  }

  /**
   * Signs the positions of `heads` that are due: each one AUDIT_CHECKPOINT_EVERY past the
   * last checkpoint, and the chain's head once AUDIT_CHECKPOINT_SECONDS have passed (also
   * when this pass chained nothing).
   */
  private async checkpointIfDue(db: Queryable, heads: Head[]): Promise<Checkpoint[]> {
    const head = heads.length ? heads[heads.length - 1] : await chainStore.head(db);
    if (!head) return [];
    const last = await chainStore.lastCheckpoint(db);
    let lastSeq = BigInt(last?.seq ?? '0');
    if (lastSeq >= BigInt(head.seq)) return [];
    const due: Head[] = [];
    for (const h of heads.slice(0, -1))
      if (BigInt(h.seq) - lastSeq >= BigInt(this.every)) {
        due.push(h);
        lastSeq = BigInt(h.seq);
      }
    const dueByTime = !last || last.ageMs >= this.seconds * 1000;
    if (dueByTime || BigInt(head.seq) - lastSeq >= BigInt(this.every)) due.push(head);
    if (due.length === 0) return [];
    const keys = await this.keys.get();
    const [{ now }] = (await db.query(`SELECT ${TIMESTAMP_US('clock_timestamp()')} AS now`)) as {
      now: string;
    }[];
    const signed = due.map((h) =>
      signCheckpoint(
        { seq: h.seq, hash: h.hash.toString('hex'), timestamp: now, keyId: keys.keyId },
        keys.privateKey,
      ),
    );
    await db.query(
      `INSERT INTO audit_checkpoints (seq, hash, "timestamp", key_id, signature)
       SELECT s, decode(h, 'hex'), $3::timestamptz, $4, k
       FROM unnest($1::bigint[], $2::text[], $5::bytea[]) AS t(s, h, k)`,
      [
        signed.map((c) => c.seq),
        signed.map((c) => c.hash),
        now,
        keys.keyId,
        signed.map((c) => Buffer.from(c.signature, 'base64url')),
      ],
    );
    return signed;
  }

  /**
   * The copy outside the database. After the COMMIT: a checkpoint that is in the file is
   * always one the database had. A crash in between leaves it in the database only, which a
   * verifier accepts (copies that differ are what it refuses).
   */
  private async appendToFile(checkpoints: Checkpoint[]): Promise<void> {
    const file = this.keys.checkpointFile;
    try {
      await mkdir(dirname(file), { recursive: true });
      const handle = await open(file, 'a', 0o600);
      try {
        await handle.appendFile(checkpoints.map((c) => `${JSON.stringify(c)}\n`).join(''));
        await handle.datasync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      this.lastError = `checkpoints up to ${checkpoints[checkpoints.length - 1].seq} not written to ${file}: ${(error as Error).message}`;
      this.logger.error({ err: serializeError(error) }, this.lastError);
    }
  }
}
