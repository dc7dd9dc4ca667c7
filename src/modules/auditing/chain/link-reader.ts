import type { Client } from 'pg';
import type { ChainLink } from './chain-verifier';
import type { EntryColumns } from './canonical-entry';
import type { Queryable } from './chain.store';
import { TIMESTAMP_US } from './chain.store';

/**
 * Reads the chain for verification, fast: per batch of positions, one range scan of the
 * chain's primary key (seq, entry id, hash) and one range scan of the log's ids that those
 * entries fall in, joined here by id. Entry ids follow positions closely (the sealer chains in
 * storing order), so the id range is barely wider than the batch; when it is not (an entry
 * stored long before it was chained), the batch's ids are looked up one by one instead. No
 * join plan in PostgreSQL, so no plan that walks the whole log per batch, and no per-link index
 * descent (that alone cost half of the time).
 *
 * The columns are plain text in {@link EntryColumns}' order, hashed without building an
 * entry object (`canonicalJsonOfColumns`). Two transports: any `Queryable` (the endpoint, the
 * tests inside a transaction), or a pg `Client` with COPY … TO STDOUT (the CLI, its workers):
 * one stream per query instead of a message and a row object per row.
 */
export interface LinkReader {
  /** The links `from`..`to` (gaps left out), in order, each with its entry's columns. */
  read(from: bigint, to: bigint): Promise<ChainLink[]>;
}

/** The entry's columns, in EntryColumns' order, each as text (what the hash is computed over). */
const ENTRY_SELECT = columns([
  'l.id::text',
  'l.event_id::text',
  TIMESTAMP_US('l."timestamp"'),
  'l.actor_id',
  'array_to_json(l.actor_roles)::text',
  'l.action_type',
  'l.entity_type',
  'l.entity_id',
  'l.outcome',
  'l.status_code::text',
  'l.details::text',
  'l.request_id',
  'l.correlation_id',
  'l.ip',
  'l.user_agent',
  'l.method',
  'l.path',
]);
const LINK_SELECT = columns([
  'seq::text',
  'entry_id::text',
  `encode(hash, 'hex')`,
  'hash_version::text',
]);

/** Named c0, c1, …: unique, and in order in a row object (they are not array indexes). */
function columns(expressions: string[]): string {
  return expressions.map((e, i) => `${e} AS c${i}`).join(', ');
}

/** Ids further apart than this (beyond the batch's own size) are looked up one by one. */
const SPARSE_SLACK = 1_000;

/** A row: text columns, null for NULL. */
type Row = (string | null)[];

/** Runs one query whose columns are all text; rows in the query's column order. */
type RunText = (sql: string) => Promise<Row[]>;

export function linkReader(db: Queryable | Client): LinkReader {
  const run: RunText = isClient(db) ? (sql) => copyRows(db, sql) : (sql) => queryRows(db, sql);
  return { read: (from, to) => readLinks(run, from, to) };
}

function isClient(db: Queryable | Client): db is Client {
  return typeof (db as Client).connect === 'function' && 'connectionParameters' in db;
}

async function readLinks(run: RunText, from: bigint, to: bigint): Promise<ChainLink[]> {
  const linkRows = await run(
    `SELECT ${LINK_SELECT} FROM action_log_chain WHERE seq BETWEEN ${from} AND ${to} ORDER BY seq`,
  );
  if (linkRows.length === 0) return [];
  // Entry ids as numbers while they are exact (always, short of 2^53 entries).
  let lo = Infinity;
  let hi = -Infinity;
  let exact = true;
  for (const r of linkRows) {
    const id = Number(r[1]);
    if (!Number.isSafeInteger(id)) exact = false;
    if (id < lo) lo = id;
    if (id > hi) hi = id;
  }
  const dense = exact && hi - lo <= linkRows.length + SPARSE_SLACK;
  const entryRows = await run(
    `SELECT ${ENTRY_SELECT} FROM action_log l WHERE ` +
      (dense
        ? `l.id BETWEEN ${lo} AND ${hi}`
        : `l.id = ANY('{${linkRows.map((r) => r[1]).join(',')}}'::bigint[])`),
  );
  let entryOf: (id: string) => Row | undefined;
  if (dense) {
    const byOffset: (Row | undefined)[] = new Array<Row | undefined>(hi - lo + 1);
    for (const e of entryRows) byOffset[Number(e[0]) - lo] = e;
    entryOf = (id) => byOffset[Number(id) - lo];
  } else {
    const byId = new Map<string, Row>();
    for (const e of entryRows) byId.set(e[0]!, e);
    entryOf = (id) => byId.get(id);
  }
  const links = new Array<ChainLink>(linkRows.length);
  for (let i = 0; i < linkRows.length; i++) {
    const r = linkRows[i];
    links[i] = {
      seq: r[0]!,
      hash: r[2]!,
      hashVersion: Number(r[3]),
      entry: null,
      columns: (entryOf(r[1]!) as EntryColumns | undefined) ?? null,
    };
  }
  return links;
}

async function queryRows(db: Queryable, sql: string): Promise<Row[]> {
  const rows = (await db.query(sql)) as Record<string, string | null>[];
  // Columns c0, c1, …: Object.values keeps their order.
  return rows.map((r) => Object.values(r));
}

/**
 * `COPY (sql) TO STDOUT` on a pg Client, parsed from its text format: one line per row,
 * tab-separated, `\N` for NULL, backslash escapes for backslash and control characters.
 */
function copyRows(client: Client, sql: string): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const rows: Row[] = [];
    client.query(new CopyOut(`COPY (${sql}) TO STDOUT`, rows, resolve, reject));
  });
}

/** A pg "submittable": pg hands it each CopyData message of the COPY it sends. */
class CopyOut {
  private settled = false;
  constructor(
    private readonly text: string,
    private readonly rows: Row[],
    private readonly resolve: (rows: Row[]) => void,
    private readonly reject: (error: Error) => void,
  ) {}

  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }

  /** One message per row (PostgreSQL sends each row as its own CopyData). */
  handleCopyData(message: { chunk: Buffer }): void {
    const chunk = message.chunk;
    // The row without its newline; UTF-8 as stored.
    const line = chunk.toString(
      'utf8',
      0,
      chunk[chunk.length - 1] === 10 ? chunk.length - 1 : chunk.length,
    );
    this.rows.push(parseCopyLine(line));
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    if (!this.settled) {
      this.settled = true;
      this.resolve(this.rows);
    }
  }

  handleError(error: Error): void {
    if (!this.settled) {
      this.settled = true;
      this.reject(error);
    }
  }
}

/** One line of COPY's text format into its fields. */
export function parseCopyLine(line: string): Row {
  const fields: Row = line.split('\t');
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f === '\\N') fields[i] = null;
    else if (f.indexOf('\\') !== -1) fields[i] = unescapeCopy(f);
  }
  return fields;
}

const COPY_ESCAPES: Record<string, string> = {
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/**
 * What COPY TO escapes in text format: the backslash itself and \b \f \n \r \t \v (other
 * control characters are sent as they are, and it never writes octal or hex forms).
 */
function unescapeCopy(field: string): string {
  return field.replace(/\\(.)/gs, (_, c: string) => COPY_ESCAPES[c] ?? c);
}
