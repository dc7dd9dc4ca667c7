import type { ChainLink } from './chain-verifier';
import type { Checkpoint } from './checkpoint';
import { SELECT_STORED_ENTRY } from '../query/action-log.projection';

/** Anything that runs a query: a DataSource, a QueryRunner, an EntityManager. */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

async function rows<T>(db: Queryable, sql: string, params?: unknown[]): Promise<T[]> {
  return (await db.query(sql, params)) as T[];
}

/** The SQL of the chain's tables, shared by the sealer, the verifier and the proofs. */
export const chainStore = {
  /** The chain's last position, or null while it is empty. */
  async head(db: Queryable): Promise<{ seq: string; hash: Buffer } | null> {
    const [head] = await rows<{ seq: string; hash: Buffer }>(
      db,
      `SELECT c.seq::text AS seq, c.hash FROM action_log_chain c ORDER BY c.seq DESC LIMIT 1`,
    );
    return head ?? null;
  },

  /** The stored hash of one position (to verify a range that starts after 1). */
  async hashAt(db: Queryable, seq: bigint): Promise<Buffer | null> {
    const [row] = await rows<{ hash: Buffer }>(
      db,
      `SELECT hash FROM action_log_chain WHERE seq = $1`,
      [seq.toString()],
    );
    return row?.hash ?? null;
  },

  /**
   * Links `from`..`to` in order, at most `limit`, each with its entry as the API shows it
   * (null when the entry row is gone).
   */
  async links(db: Queryable, from: bigint, to: bigint, limit: number): Promise<ChainLink[]> {
    // Plain columns (only `details` and the roles parsed as JSON) and one index lookup per
    // link: a join plan that scans the whole log for every batch would make verification
    // quadratic.
    const found = await rows<LinkRow>(
      db,
      `SELECT c.seq::text AS seq, encode(c.hash, 'hex') AS hash, c.hash_version, e.*,
              -- A missing entry: purged by retention (its position is in an archive) or deleted.
              e.id IS NULL AND EXISTS (SELECT 1 FROM audit_archives a WHERE a.seqs @> c.seq)
                AS archived
       FROM action_log_chain c
       LEFT JOIN LATERAL (
         SELECT l.id::text AS id, l.event_id::text AS event_id,
                ${TIMESTAMP_US('l."timestamp"')} AS ts, l.actor_id,
                array_to_json(l.actor_roles)::text AS actor_roles, l.action_type, l.entity_type,
                l.entity_id, l.outcome, l.status_code, l.details::text AS details, l.request_id,
                l.correlation_id, l.ip, l.user_agent, l.method, l.path
         FROM action_log l WHERE l.id = c.entry_id
         OFFSET 0 -- a fence: one index lookup per link, never a join over the whole log
       ) e ON true
       WHERE c.seq BETWEEN $1 AND $2
       ORDER BY c.seq
       LIMIT $3`,
      [from.toString(), to.toString(), limit],
    );
    return found.map((r) => ({
      seq: r.seq,
      hash: r.hash,
      hashVersion: r.hash_version,
      ...(r.archived ? { archived: true } : {}),
      entry:
        r.id === null
          ? null
          : {
              id: r.id,
              eventId: r.event_id,
              timestamp: r.ts,
              actorId: r.actor_id,
              actorRoles: JSON.parse(r.actor_roles) as string[],
              actionType: r.action_type,
              entityType: r.entity_type,
              entityId: r.entity_id,
              outcome: r.outcome,
              statusCode: r.status_code,
              details:
                r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
              requestId: r.request_id,
              correlationId: r.correlation_id,
              ip: r.ip,
              userAgent: r.user_agent,
              method: r.method,
              path: r.path,
            },
    }));
  },

  async checkpoints(db: Queryable, from?: bigint, to?: bigint): Promise<Checkpoint[]> {
    const found = await rows<CheckpointRow>(
      db,
      `SELECT seq::text AS seq, hash, ${TIMESTAMP_US('"timestamp"')} AS "timestamp", key_id, signature
       FROM audit_checkpoints k
       WHERE ($1::bigint IS NULL OR k.seq >= $1) AND ($2::bigint IS NULL OR k.seq <= $2)
       ORDER BY k.seq`,
      [from?.toString() ?? null, to?.toString() ?? null],
    );
    return found.map(toCheckpoint);
  },

  async lastCheckpoint(db: Queryable): Promise<(Checkpoint & { ageMs: number }) | null> {
    const [row] = await rows<CheckpointRow & { age_ms: number }>(
      db,
      `SELECT seq::text AS seq, hash, ${TIMESTAMP_US('"timestamp"')} AS "timestamp", key_id, signature,
              (extract(epoch FROM clock_timestamp() - "timestamp") * 1000)::float8 AS age_ms
       FROM audit_checkpoints k ORDER BY k.seq DESC LIMIT 1`,
    );
    return row ? { ...toCheckpoint(row), ageMs: row.age_ms } : null;
  },

  /** The first checkpoint at or after a position. */
  async checkpointFrom(db: Queryable, seq: bigint): Promise<Checkpoint | null> {
    const [row] = await rows<CheckpointRow>(
      db,
      `SELECT seq::text AS seq, hash, ${TIMESTAMP_US('"timestamp"')} AS "timestamp", key_id, signature
       FROM audit_checkpoints k WHERE k.seq >= $1 ORDER BY k.seq LIMIT 1`,
      [seq.toString()],
    );
    return row ? toCheckpoint(row) : null;
  },

  /** Entries stored but not (yet) in the chain, and how old the oldest one is. */
  async unsealed(db: Queryable): Promise<{ unsealed: number; oldestUnsealedAgeMs: number | null }> {
    const [row] = await rows<{ unsealed: number; age_ms: number | null }>(
      db,
      `SELECT count(*)::int AS unsealed,
              (extract(epoch FROM clock_timestamp() - min(l."timestamp")) * 1000)::float8 AS age_ms
       FROM action_log l, audit_chain_state s
       WHERE (l.tx, l.id) > (s.last_tx, s.last_id)`,
    );
    return {
      unsealed: row.unsealed,
      oldestUnsealedAgeMs: row.age_ms === null ? null : Math.max(0, Math.round(row.age_ms)),
    };
  },

  /**
   * An entry the sealer has passed over that is in no position: only someone writing behind
   * the application's back (or a tampered sealer state) leaves one.
   */
  async firstOutsideChain(db: Queryable): Promise<string | null> {
    const [row] = await rows<{ id: string }>(
      db,
      `SELECT l.id::text AS id FROM action_log l, audit_chain_state s
       WHERE (l.tx, l.id) <= (s.last_tx, s.last_id)
         AND NOT EXISTS (SELECT 1 FROM action_log_chain c WHERE c.entry_id = l.id)
       ORDER BY l.id LIMIT 1`,
    );
    return row?.id ?? null;
  },
};

/**
 * The entry of the row `alias` as one JSON object, exactly as the API shows it (the hash is
 * computed over this form, by the sealer and by every verifier).
 */
export const ENTRY_JSON = (alias: string) =>
  `(SELECT to_jsonb(x) FROM (SELECT ${SELECT_STORED_ENTRY} FROM (SELECT ${alias}.*) y) x)`;

/** UTC ISO-8601 with microseconds, as every timestamp of the trail is written. */
export const TIMESTAMP_US = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

interface CheckpointRow {
  seq: string;
  hash: Buffer;
  timestamp: string;
  key_id: string;
  signature: Buffer;
}

function toCheckpoint(r: CheckpointRow): Checkpoint {
  return {
    seq: r.seq,
    hash: r.hash.toString('hex'),
    timestamp: r.timestamp,
    keyId: r.key_id,
    signature: r.signature.toString('base64url'),
  };
}

interface LinkRow {
  seq: string;
  hash: string;
  hash_version: number;
  archived: boolean;
  id: string | null;
  event_id: string;
  ts: string;
  actor_id: string;
  actor_roles: string;
  action_type: string;
  entity_type: string;
  entity_id: string;
  outcome: string;
  status_code: number | null;
  details: string | null;
  request_id: string | null;
  correlation_id: string | null;
  ip: string | null;
  user_agent: string | null;
  method: string | null;
  path: string | null;
}
