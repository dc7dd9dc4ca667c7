import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Client } from 'pg';
import QueryStream from 'pg-query-stream';
import { DataSource } from 'typeorm';
import { serializeError } from '@/common/logging/logging.module';
import { PeriodicTask } from '@/common/periodic-task';
import type { Env } from '@/config/env';
import { SESSION_OPTIONS } from '@/database/data-source-options';
import { OWNER_DATABASE_URL } from '@/database/owner-database.module';
import { AuditingService } from '../auditing.service';
import { ENTRY_JSON } from '../query/action-log.projection';
import { holdsCovering } from './legal-holds.service';
import { ensureMonthsAround, listPartitions, retentionHorizon, type Partition } from './partitions';

/** Any number: the advisory lock that makes one retention job at a time run, across instances. */
const RETENTION_LOCK = 7_305_011_919;
/** Rows per round trip while archiving: the memory an archive holds, whatever its size. */
const BATCH_ROWS = 1000;
/**
 * How long the purge waits for its locks before giving up until the next pass: while it waits
 * for the log's lock, writers queue behind it, so the wait is short.
 */
const LOCK_TIMEOUT = '2s';

/** What an archive's manifest says (written beside it as `<partition>.manifest.json`). */
export interface ArchiveManifest {
  partition: string;
  /** The month it held: [from, to). */
  from: string;
  to: string;
  /** `<partition>.ndjson.gz`: one entry per line, as the API and the export show it. */
  file: string;
  /** SHA-256 of the file (hex). */
  sha256: string;
  rowCount: number;
  minId: string | null;
  maxId: string | null;
  firstTimestamp: string | null;
  lastTimestamp: string | null;
  /** The chain positions of its entries, as ranges `[first, last]`. */
  seqRanges: [string, string][];
  /** The chain's hash just before its first position (to recompute the chain from there). */
  prevHash: string | null;
  firstSeq: string | null;
  firstHash: string | null;
  lastSeq: string | null;
  lastHash: string | null;
  archivedAt: string;
}

const EMPTY_PASS: RetentionPass = { created: 0, archived: [], purged: [], kept: [], ran: false };

export interface RetentionPass {
  /** Partitions created ahead. */
  created: number;
  archived: string[];
  purged: string[];
  /** Expired partitions left in place, with why (a legal hold, unsealed entries …). */
  kept: { partition: string; reason: string }[];
  /** False when another instance held the job's lock (this pass did nothing). */
  ran: boolean;
}

/**
 * Keeps the log's monthly partitions (see migration PartitionedActionLog): creates the coming
 * months ahead and, with AUDIT_RETENTION_DAYS, archives every month that ended longer ago than
 * that to AUDIT_ARCHIVE_DIR (gzip NDJSON + manifest, fsynced) and then detaches and drops it —
 * unless a legal hold covers an entry of it, an entry of it is not chained yet, or one is still
 * pending in the outbox. One instance at a time (advisory lock). Detaching and dropping needs
 * the owner's rights: the job connects as the owner (DATABASE_MIGRATION_URL), never the
 * service's pool. Every archive and purge is itself an entry (`ACTION_LOG_ARCHIVE` CREATE,
 * `ACTION_LOG_PARTITION` DELETE); a purge also forgets the purged event ids.
 *
 * A crash at any step is finished by the next run: an archive is recorded (`audit_archives`)
 * only once its file and manifest are durable, and a partition is dropped only once recorded.
 */
@Injectable()
export class AuditRetentionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditRetentionService.name);
  private readonly task: PeriodicTask<RetentionPass>;
  private readonly intervalMs: number;
  private readonly retentionDays: number | undefined;
  private readonly ahead: number;
  readonly archiveDir: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly auditing: AuditingService,
    config: ConfigService<Env, true>,
    @Optional() @Inject(OWNER_DATABASE_URL) private readonly ownerUrl?: string,
  ) {
    this.intervalMs = config.get('AUDIT_RETENTION_INTERVAL_MS', { infer: true });
    this.retentionDays = config.get('AUDIT_RETENTION_DAYS', { infer: true });
    this.ahead = config.get('AUDIT_PARTITIONS_AHEAD', { infer: true });
    this.archiveDir = resolve(
      config.get('AUDIT_ARCHIVE_DIR', { infer: true }) ??
        join(config.get('EMBEDDED_PG_DATA_DIR', { infer: true }), '..', 'audit-archive'),
    );
    // A scheduled pass that fails is logged (runOnce) and tried again on the next tick.
    this.task = new PeriodicTask(
      () => this.runOnce().catch((): RetentionPass => ({ ...EMPTY_PASS, kept: [] })),
      this.intervalMs || 86_400_000,
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    // The months ahead exist whatever the schedule: the service's role may create them.
    try {
      await ensureMonthsAround(this.dataSource, new Date(), this.ahead);
    } catch (error) {
      this.logger.error(
        { err: serializeError(error) },
        'Could not create the coming months of the log',
      );
    }
    if (this.intervalMs > 0) this.task.start({ runNow: true });
  }

  /** Stops before the pool closes (see PeriodicTask). */
  async beforeApplicationShutdown(): Promise<void> {
    await this.task.stop();
  }

  /**
   * One pass now (what the schedule runs; `npm run audit:retention`); rejects when it fails.
   * Passes of every instance take turns (advisory lock): one that finds it taken does nothing.
   */
  run(now?: Date): Promise<RetentionPass> {
    return this.runOnce(now);
  }

  private async runOnce(now = new Date()): Promise<RetentionPass> {
    const pass: RetentionPass = { ...EMPTY_PASS, archived: [], purged: [], kept: [] };
    const owner = new Client({
      connectionString: this.ownerUrl ?? (this.dataSource.options as { url?: string }).url,
      application_name: 'mcp-backend-retention',
      options: SESSION_OPTIONS,
    });
    // A connection lost between queries is reported by the next query, not as a crash.
    owner.on('error', () => undefined);
    try {
      await owner.connect();
      const [{ locked }] = (
        await owner.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock($1) AS locked`, [
          RETENTION_LOCK,
        ])
      ).rows;
      if (!locked) return pass;
      pass.ran = true;
      try {
        pass.created = await ensureMonthsAround(owner, now, this.ahead);
        const horizon = retentionHorizon(this.retentionDays, now);
        if (horizon) {
          for (const partition of await listPartitions(owner)) {
            if (partition.to > horizon) break;
            await this.retire(owner, partition, pass);
          }
        }
      } finally {
        await owner.query(`SELECT pg_advisory_unlock($1)`, [RETENTION_LOCK]).catch(() => undefined); // a lost connection has released it
      }
      if (pass.archived.length || pass.purged.length || pass.kept.length)
        this.logger.log({ ...pass }, 'Retention pass');
      return pass;
    } catch (error) {
      this.logger.error({ err: serializeError(error) }, 'Retention pass failed');
      throw error;
    } finally {
      await owner.end().catch(() => undefined);
    }
  }

  /** Archives (unless already archived) and purges one expired partition, or says why not. */
  private async retire(owner: Client, partition: Partition, pass: RetentionPass): Promise<void> {
    const keep = (reason: string) => {
      pass.kept.push({ partition: partition.name, reason });
      this.logger.warn({ partition: partition.name, reason }, 'Expired partition kept');
    };
    const holds = await holdsCovering(owner, partition);
    if (holds.length) return keep(`legal hold ${holds.join(', ')}`);
    // Archived already: a pass that crashed before the drop (same entries). A month created
    // again after its purge (an old entry arriving late) is archived again, in a file of its own.
    const [state] = (
      await owner.query<{
        unsealed: boolean;
        pending: boolean;
        archived: boolean;
        generation: number;
      }>(
        `WITH content AS (SELECT count(*) AS n, max(id) AS max_id FROM ${partition.name})
         SELECT EXISTS (SELECT 1 FROM ${partition.name} l, audit_chain_state s
                        WHERE (l.tx, l.id) > (s.last_tx, s.last_id)) AS unsealed,
                EXISTS (SELECT 1 FROM audit_outbox WHERE occurred_at < $1) AS pending,
                EXISTS (SELECT 1 FROM audit_archives a, content c WHERE a.partition = $2
                          AND a.row_count = c.n AND a.max_id IS NOT DISTINCT FROM c.max_id) AS archived,
                (SELECT count(*)::int FROM audit_archives WHERE partition = $2) AS generation`,
        [partition.to, partition.name],
      )
    ).rows;
    if (state.unsealed) return keep('entries not chained yet');
    if (state.pending) return keep('entries of that time still pending in the outbox');

    if (!state.archived) {
      const manifest = await this.archive(owner, partition, state.generation);
      pass.archived.push(partition.name);
      await this.auditing.record({
        actorId: 'system',
        actionType: 'CREATE',
        entityType: 'ACTION_LOG_ARCHIVE',
        entityId: partition.name,
        details: { ...manifest, seqRanges: manifest.seqRanges.slice(0, 100) },
      });
    }
    const [archive] = (
      await owner.query<{ file: string; sha256: string; row_count: string }>(
        `SELECT file, sha256, row_count::text FROM audit_archives WHERE partition = $1
         ORDER BY id DESC LIMIT 1`,
        [partition.name],
      )
    ).rows;
    const rows = await this.purge(owner, partition, Number(archive.row_count));
    if (rows === null)
      return keep('entries arrived after it was archived: archived again next pass');
    pass.purged.push(partition.name);
    await this.auditing.record({
      actorId: 'system',
      actionType: 'DELETE',
      entityType: 'ACTION_LOG_PARTITION',
      entityId: partition.name,
      details: {
        from: partition.from.toISOString(),
        to: partition.to.toISOString(),
        rows,
        archive: archive.file,
        sha256: archive.sha256,
      },
    });
  }

  /** Writes the partition's entries and manifest durably, then records the archive. */
  private async archive(
    owner: Client,
    partition: Partition,
    generation: number,
  ): Promise<ArchiveManifest> {
    await mkdir(this.archiveDir, { recursive: true });
    const base = generation === 0 ? partition.name : `${partition.name}.${generation + 1}`;
    const file = `${base}.ndjson.gz`;
    const path = join(this.archiveDir, file);
    const partial = `${path}.partial`;
    const sha = createHash('sha256');
    const rows = owner.query(
      new QueryStream(
        `SELECT ${ENTRY_JSON} AS j FROM ${partition.name} ORDER BY "timestamp", id`,
        [],
        { batchSize: BATCH_ROWS },
      ),
    );
    await pipeline(
      rows,
      new Transform({
        writableObjectMode: true,
        transform(row: { j: string }, _encoding, callback) {
          callback(null, `${row.j}\n`);
        },
      }),
      createGzip(),
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          sha.update(chunk);
          callback(null, chunk);
        },
      }),
      createWriteStream(partial),
    );
    await fsync(partial);
    await rename(partial, path);

    const [summary] = (
      await owner.query<{
        row_count: string;
        min_id: string | null;
        max_id: string | null;
        first_ts: string | null;
        last_ts: string | null;
        seqs: string;
        ranges: [string, string][] | null;
        first_seq: string | null;
        last_seq: string | null;
      }>(
        `WITH e AS (
           SELECT l.id, l."timestamp", c.seq FROM ${partition.name} l
           LEFT JOIN action_log_chain c ON c.entry_id = l.id),
         r AS (SELECT coalesce(range_agg(int8range(seq, seq, '[]')), '{}') AS seqs FROM e)
         SELECT (SELECT count(*) FROM e)::text AS row_count,
                (SELECT min(id)::text FROM e) AS min_id, (SELECT max(id)::text FROM e) AS max_id,
                (SELECT to_char(min("timestamp") AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM e) AS first_ts,
                (SELECT to_char(max("timestamp") AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM e) AS last_ts,
                r.seqs::text AS seqs,
                (SELECT json_agg(json_build_array(lower(x)::text, (upper(x) - 1)::text) ORDER BY lower(x))
                 FROM unnest(r.seqs) x) AS ranges,
                (SELECT min(seq)::text FROM e) AS first_seq, (SELECT max(seq)::text FROM e) AS last_seq
         FROM r`,
      )
    ).rows;
    const hashAt = async (seq: string | null): Promise<string | null> => {
      if (seq === null || seq === '0') return seq === '0' ? '0'.repeat(64) : null;
      const { rows: found } = await owner.query<{ hash: string }>(
        `SELECT encode(hash, 'hex') AS hash FROM action_log_chain WHERE seq = $1`,
        [seq],
      );
      return found[0]?.hash ?? null;
    };
    const manifest: ArchiveManifest = {
      partition: partition.name,
      from: partition.from.toISOString(),
      to: partition.to.toISOString(),
      file,
      sha256: sha.digest('hex'),
      rowCount: Number(summary.row_count),
      minId: summary.min_id,
      maxId: summary.max_id,
      firstTimestamp: summary.first_ts,
      lastTimestamp: summary.last_ts,
      seqRanges: summary.ranges ?? [],
      prevHash: summary.first_seq
        ? await hashAt((BigInt(summary.first_seq) - 1n).toString())
        : null,
      firstSeq: summary.first_seq,
      firstHash: await hashAt(summary.first_seq),
      lastSeq: summary.last_seq,
      lastHash: await hashAt(summary.last_seq),
      archivedAt: new Date().toISOString(),
    };
    const manifestPath = join(this.archiveDir, `${base}.manifest.json`);
    await writeFile(`${manifestPath}.partial`, `${JSON.stringify(manifest, null, 2)}\n`);
    await fsync(`${manifestPath}.partial`);
    await rename(`${manifestPath}.partial`, manifestPath);
    await fsync(this.archiveDir);

    await owner.query(
      `INSERT INTO audit_archives (partition, from_time, to_time, file, sha256, row_count, min_id,
         max_id, seqs, first_seq, first_hash, last_seq, last_hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::int8multirange, $10, $11, $12, $13)`,
      [
        partition.name,
        partition.from,
        partition.to,
        path,
        manifest.sha256,
        manifest.rowCount,
        manifest.minId,
        manifest.maxId,
        summary.seqs,
        manifest.firstSeq,
        manifest.firstHash,
        manifest.lastSeq,
        manifest.lastHash,
      ],
    );
    return manifest;
  }

  /**
   * In one transaction: locks the partition against new entries, checks it still holds what
   * was archived (else nothing is removed and the next pass archives it again), forgets its
   * event ids, detaches and drops it. The detach holds the log's lock for an instant (the drop);
   * if it cannot get it within LOCK_TIMEOUT, the next pass tries again. Returns the entries
   * purged, or null when the partition changed since it was archived.
   */
  private async purge(
    owner: Client,
    partition: Partition,
    archivedRows: number,
  ): Promise<number | null> {
    await owner.query('BEGIN');
    try {
      await owner.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      await owner.query(`LOCK TABLE ${partition.name} IN SHARE MODE`);
      const { rows } = await owner.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM ${partition.name}`,
      );
      if (Number(rows[0].n) !== archivedRows) {
        await owner.query('ROLLBACK');
        return null;
      }
      await owner.query(
        `DELETE FROM action_log_event_ids r USING ${partition.name} l WHERE r.event_id = l.event_id`,
      );
      const attached = (
        await owner.query(
          `SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1)
             AND inhparent = 'action_log'::regclass`,
          [partition.name],
        )
      ).rowCount;
      if (attached) await owner.query(`ALTER TABLE action_log DETACH PARTITION ${partition.name}`);
      await owner.query(`DROP TABLE ${partition.name}`);
      await owner.query('COMMIT');
      return archivedRows;
    } catch (error) {
      await owner.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }
}

async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
