import { pipeline, Transform, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { Injectable } from '@nestjs/common';
import { stringify } from 'csv-stringify';
import QueryStream from 'pg-query-stream';
import { DataSource } from 'typeorm';
import { ENTRY_FIELDS, ENTRY_JSON } from '../query/action-log.projection';
import { exactSql, planSearch, type SearchFilters } from '../query/action-log.search';

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Rows fetched per round trip: the memory an export holds, whatever its size. */
const BATCH_ROWS = 1000;

/** CSV cells: the entry's fields as text (details and roles as JSON). */
const CSV_SELECT = ENTRY_FIELDS.map(([field, sql]) =>
  field === 'details' || field === 'actorRoles'
    ? `to_json(${sql})::text AS "${field}"`
    : `${sql} AS "${field}"`,
).join(', ');

export interface RunningExport {
  /** The body to send (gzip when asked). */
  body: Readable;
  /** Resolves once the export has ended (complete or aborted) and its connection is free. */
  done: Promise<{ rows: number; complete: boolean }>;
}

/**
 * Streams the entries a search matches (newest first, no page limit) through a server-side
 * cursor: BATCH_ROWS at a time, pulled only as fast as the client reads, so memory stays
 * constant. Destroying the body (the client went away) closes the cursor, which ends the
 * query, and frees the connection.
 */
@Injectable()
export class ActionLogExportService {
  constructor(private readonly dataSource: DataSource) {}

  async start(filters: SearchFilters, format: ExportFormat, gzip: boolean): Promise<RunningExport> {
    const plan = planSearch(filters);
    const select = format === 'ndjson' ? `${ENTRY_JSON} AS j` : CSV_SELECT;
    const runner = this.dataSource.createQueryRunner();
    const client = (await runner.connect()) as { query(q: QueryStream): QueryStream };
    const rows = client.query(
      new QueryStream(exactSql(plan, select), plan.params, { batchSize: BATCH_ROWS }),
    );
    let count = 0;
    const stages: NodeJS.ReadWriteStream[] =
      format === 'ndjson'
        ? [ndjsonLines(() => count++)]
        : [
            new Transform({
              objectMode: true,
              transform(row: object, _encoding, callback) {
                count++;
                callback(null, row);
              },
            }),
            stringify({
              header: true,
              columns: ENTRY_FIELDS.map(([field]) => field),
              // Cells starting with = + - @ tab or CR get a leading ' (CSV formula injection).
              escape_formulas: true,
            }),
          ];
    if (gzip) stages.push(createGzip());
    const released = new Promise<void>((resolve) =>
      rows.once('close', () => {
        void runner.release().finally(resolve);
      }),
    );
    let body!: Readable;
    const finished = new Promise<boolean>((resolve) => {
      body = pipeline(rows, ...(stages as [Transform]), (error) => resolve(!error));
    });
    const done = Promise.all([finished, released]).then(([complete]) => ({
      rows: count,
      complete,
    }));
    return { body, done };
  }
}

/** Rows' JSON texts as NDJSON, written in chunks of ~64 KiB (a write per line costs more). */
function ndjsonLines(counted: () => void): Transform {
  let chunk = '';
  return new Transform({
    writableObjectMode: true,
    transform(row: { j: string }, _encoding, callback) {
      counted();
      chunk += `${row.j}\n`;
      if (chunk.length < CHUNK_CHARS) return callback();
      const full = chunk;
      chunk = '';
      callback(null, full);
    },
    flush(callback) {
      callback(null, chunk || undefined);
    },
  });
}

const CHUNK_CHARS = 64 * 1024;
