import { hash } from 'node:crypto';
import type { Client } from 'pg';
import { canonicalJsonOfColumns } from './canonical-entry';
import type { ChainLink } from './chain-verifier';
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
  'l.action_type',
  'l.entity_type',
  'l.entity_id',
  'l.outcome',
  'l.status_code::text',
  'l.request_id',
  'l.correlation_id',
  'l.ip',
  'l.user_agent',
  'l.method',
  'l.path',
  'array_to_json(l.actor_roles)::text',
  'l.details::text',
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

/**
 * Runs one query whose columns are all text, handing each row to `onRow` (in the query's
 * column order) with whether its first PLAIN_TEXT_COLUMNS columns are plain (nothing JSON
 * escapes; only COPY tells).
 */
type RunText = (sql: string, onRow: (row: Row, plain: boolean) => void) => Promise<void>;

export function linkReader(db: Queryable | Client): LinkReader {
  const run: RunText = isClient(db)
    ? (sql, onRow) => copyRows(db, sql, onRow)
    : (sql, onRow) => queryRows(db, sql, onRow);
  return { read: (from, to) => readLinks(run, from, to) };
}

function isClient(db: Queryable | Client): db is Client {
  return typeof (db as Client).connect === 'function' && 'connectionParameters' in db;
}

/**
 * The links, each with its entry's digest (hex) computed as the entry's row arrives: a row
 * never outlives its own hashing, so the young generation stays small and GC cheap.
 */
async function readLinks(run: RunText, from: bigint, to: bigint): Promise<ChainLink[]> {
  const linkRows: Row[] = [];
  await run(
    `SELECT ${LINK_SELECT} FROM action_log_chain WHERE seq BETWEEN ${from} AND ${to} ORDER BY seq`,
    (row) => linkRows.push(row),
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
  const links = new Array<ChainLink>(linkRows.length);
  for (let i = 0; i < linkRows.length; i++) {
    const r = linkRows[i];
    links[i] = { seq: r[0]!, hash: r[2]!, hashVersion: Number(r[3]), entry: null };
  }
  // Which link each entry id belongs to (-1: none in this batch).
  let linkOf: (id: string) => number;
  if (dense) {
    const byOffset = new Int32Array(hi - lo + 1).fill(-1);
    for (let i = 0; i < linkRows.length; i++) byOffset[Number(linkRows[i][1]) - lo] = i;
    linkOf = (id) => byOffset[Number(id) - lo];
  } else {
    const byId = new Map<string, number>();
    for (let i = 0; i < linkRows.length; i++) byId.set(linkRows[i][1]!, i);
    linkOf = (id) => byId.get(id) ?? -1;
  }
  await run(
    `SELECT ${ENTRY_SELECT} FROM action_log l WHERE ` +
      (dense
        ? `l.id BETWEEN ${lo} AND ${hi}`
        : `l.id = ANY('{${linkRows.map((r) => r[1]).join(',')}}'::bigint[])`),
    (row, plain) => {
      const i = linkOf(row[0]!);
      if (i < 0) return; // an entry of another batch, or not chained
      const link = links[i];
      try {
        link.digest = hash(
          'sha256',
          canonicalJsonOfColumns(link.seq, row, link.hashVersion, plain),
          'hex',
        );
      } catch (error) {
        link.hashError = (error as Error).message;
      }
    },
  );
  // Links left without an entry: purged by retention (in an archive's positions) or deleted.
  const missing = links.filter((l) => l.digest === undefined && l.hashError === undefined);
  if (missing.length > 0) {
    await run(
      `SELECT s::text AS c0 FROM unnest('{${missing.map((l) => l.seq).join(',')}}'::bigint[]) s
       WHERE EXISTS (SELECT 1 FROM audit_archives a WHERE a.seqs @> s)`,
      (row) => {
        const link = missing.find((l) => l.seq === row[0]);
        if (link) link.archived = true;
      },
    );
  }
  return links;
}

async function queryRows(
  db: Queryable,
  sql: string,
  onRow: (row: Row, plain: boolean) => void,
): Promise<void> {
  const rows = (await db.query(sql)) as Record<string, string | null>[];
  // Columns c0, c1, …: Object.values keeps their order.
  for (const r of rows) onRow(Object.values(r), false);
}

/**
 * `COPY (sql) TO STDOUT` on a pg Client, parsed from its text format: one line per row,
 * tab-separated, `\N` for NULL, backslash escapes for backslash and control characters.
 */
function copyRows(
  client: Client,
  sql: string,
  onRow: (row: Row, plain: boolean) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    client.query(new CopyOut(`COPY (${sql}) TO STDOUT`, onRow, resolve, reject));
  });
}

/** A pg "submittable": pg hands it each CopyData message of the COPY it sends. */
class CopyOut {
  private settled = false;
  private failure: Error | null = null;
  constructor(
    private readonly text: string,
    private readonly onRow: (row: Row, plain: boolean) => void,
    private readonly resolve: () => void,
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
    if (this.failure) return;
    try {
      this.onRow(parseCopyLine(line), plainTextColumns(line));
    } catch (error) {
      // Reported once the query is over (the connection stays in step).
      this.failure = error as Error;
    }
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    if (!this.settled) {
      this.settled = true;
      if (this.failure) this.reject(this.failure);
      else this.resolve();
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
  // Without a backslash there is neither a NULL (\N) nor an escape.
  if (line.indexOf('\\') === -1) return fields;
  const escapes = ESCAPE.test(line);
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.length === 2 && f === '\\N') fields[i] = null;
    else if (escapes && f.indexOf('\\') !== -1) fields[i] = unescapeCopy(f);
  }
  return fields;
}

/** A backslash that is not the start of a NULL: an escape (of a backslash, a control). */
const ESCAPE = /\\[^N]/;
/**
 * In COPY's text, what makes a column need more than quotes in JSON: a quote, an escape
 * (a backslash or control character in the data), a raw control character, a surrogate.
 */
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
const QUOTE_OR_CONTROL = /["\u0000-\u0008\u000a-\u001f\ud800-\udfff]/;

/**
 * Whether the first PLAIN_TEXT_COLUMNS columns of an entry's line are plain, so that JSON
 * only quotes them: the line up to its last two columns (roles and details; tabs in data are
 * escaped, so tabs separate) holds no quote, no raw control character or surrogate, and no
 * backslash but those of NULLs (\N; data's backslashes and controls are escaped with one).
 */
function plainTextColumns(line: string): boolean {
  const last = line.lastIndexOf('\t');
  const cut = last > 0 ? line.lastIndexOf('\t', last - 1) : -1;
  if (cut < 0) return false;
  const prefix = line.slice(0, cut);
  if (QUOTE_OR_CONTROL.test(prefix)) return false;
  return prefix.indexOf('\\') === -1 || !ESCAPE.test(prefix);
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
