import 'reflect-metadata';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { createGunzip } from 'node:zlib';
import { Client } from 'pg';
import { loadEnv } from '@/config/env';
import { provisionDatabase } from '@/database/provision';
import { entryDigest, type ChainedFields } from './canonical-entry';
import { readCheckpointFile, verifyDatabase } from './chain-verification.service';
import { ChainVerifier, type ChainLink, type VerifyResult } from './chain-verifier';
import { sequentialRunner, type ChunkRunner } from './chunked-verify';
import { linkReader } from './link-reader';
import { workerRunner } from './parallel-verify';
import { checkpointFile, loadSigningKeys, readPublicKeys } from './signing-keys';

const USAGE = `usage:
  npm run audit:verify [-- --from-seq N --to-seq M] [--workers N] [--chunk-size N]
      against the database (DATABASE_URL, or the embedded one), with the checkpoint file
      (AUDIT_CHECKPOINT_FILE) and the signing key's public half (AUDIT_SIGNING_KEY_FILE);
      in N worker threads (default: one per CPU), each verifying chunks of --chunk-size
      positions (default 50,000) in the snapshot of the whole run
  npm run audit:verify -- --export entries.ndjson[.gz] [--export archive.ndjson.gz …] --checkpoints checkpoints.ndjson --public-key key.jwk.json
      offline: an NDJSON export of the log, the checkpoint file and the public key (a JWK or
      a JWK Set), nothing else`;

/**
 * `npm run audit:verify`: the same verification as GET /action-logs/verify, from the
 * command line; or, offline, over an export, so an outside auditor needs nothing of this
 * service but three files. Exit code 0 when the chain holds, 1 when it does not, 2 on bad use.
 */
async function main(): Promise<number> {
  // The batches being checked outlive the default young generation; a larger one cuts the GC
  // time by about a tenth (measured). Workers get the same through their resource limits.
  setFlagsFromString('--max-semi-space-size=64');
  const { values } = parseArgs({
    options: {
      'from-seq': { type: 'string' },
      'to-seq': { type: 'string' },
      export: { type: 'string', multiple: true },
      checkpoints: { type: 'string' },
      'public-key': { type: 'string' },
      workers: { type: 'string' },
      'chunk-size': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const started = process.hrtime.bigint();
  const result = values.export?.length
    ? await verifyExport(values.export, values.checkpoints, values['public-key'])
    : await verifyLive(
        values['from-seq'],
        values['to-seq'],
        values.checkpoints,
        values['public-key'],
        {
          workers: positive(values.workers, '--workers') ?? availableParallelism(),
          chunkSize: positive(values['chunk-size'], '--chunk-size'),
        },
      );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    JSON.stringify(
      {
        ...result,
        seconds: Number(seconds.toFixed(3)),
        rowsPerSecond: Math.round(result.checked / seconds),
      },
      null,
      2,
    ),
  );
  if (result.ok && result.checked > 0 && !result.lastCheckpoint)
    console.error(
      'warning: no signed checkpoint in the range: the entries are consistent, but nothing anchors them',
    );
  return result.ok ? 0 : 1;
}

async function verifyLive(
  fromSeq: string | undefined,
  toSeq: string | undefined,
  checkpoints: string | undefined,
  publicKey: string | undefined,
  parallel: { workers: number; chunkSize?: number },
): Promise<VerifyResult> {
  const env = loadEnv();
  const trusted = publicKey
    ? await readPublicKeys(await readFile(publicKey, 'utf8'), publicKey)
    : (await loadSigningKeys(env, (m) => console.error(m))).trusted;
  const copies = await readCheckpointFile(checkpoints ?? checkpointFile(env));
  const db = await provisionDatabase(env, (m) => console.error(m));
  const client = new Client({ connectionString: db.url });
  let workers: Awaited<ReturnType<typeof workerRunner>> | undefined;
  try {
    await client.connect();
    // One snapshot for the whole run (the sealer may go on meanwhile), shared by the workers.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const queryable = {
      query: async (sql: string, p?: unknown[]): Promise<unknown> =>
        (await client.query(sql, p)).rows,
    };
    let runner: ChunkRunner;
    if (parallel.workers > 1) {
      const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
      workers = await workerRunner({
        url: db.url,
        snapshot: rows[0].id,
        trusted,
        count: parallel.workers,
      });
      runner = workers.runner;
    } else runner = sequentialRunner(queryable, linkReader(client), trusted);
    return await verifyDatabase(
      queryable,
      trusted,
      copies,
      { fromSeq, toSeq },
      { runner, chunkSize: parallel.chunkSize },
    );
  } finally {
    await workers?.close();
    await client.end().catch(() => undefined);
    await db.embedded?.stop();
  }
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(value)) throw new UsageError(`${name} must be a positive integer`);
  return Number(value);
}

/**
 * An export in any order (the API's is newest first): each line is digested as it is read,
 * keeping only (seq, hash, digest), then the chain is checked in order. Lines without a
 * position (entries not sealed when exported) are not part of the signed history and are
 * skipped. A range that does not start at 1 starts from the stored hash of its first line.
 */
async function verifyExport(
  exportFiles: string[],
  checkpoints: string | undefined,
  publicKey: string | undefined,
): Promise<VerifyResult> {
  if (!checkpoints || !publicKey)
    throw new UsageError('--export needs --checkpoints and --public-key');
  const trusted = await readPublicKeys(await readFile(publicKey, 'utf8'), publicKey);
  const copies = await readCheckpointFile(checkpoints);
  const links: ChainLink[] = [];
  // Several files (the archives of purged months and a current export) are one chain.
  for (const exportFile of exportFiles) {
    const input = createReadStream(exportFile);
    const lines = createInterface({
      input: exportFile.endsWith('.gz') ? input.pipe(createGunzip()) : input,
      crlfDelay: Infinity,
    });
    let lineNo = 0;
    for await (const line of lines) {
      lineNo++;
      if (!line.trim()) continue;
      let entry: ChainedFields & { hash?: string; hashVersion?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        throw new UsageError(`${exportFile}:${lineNo} is not JSON`);
      }
      if (!entry.seq || !entry.hash) continue;
      const hashVersion = entry.hashVersion ?? 1;
      links.push({
        seq: entry.seq,
        hash: entry.hash,
        hashVersion,
        entry: null,
        digest: entryDigest(entry, hashVersion),
      });
    }
  }
  links.sort((a, b) =>
    BigInt(a.seq) < BigInt(b.seq) ? -1 : BigInt(a.seq) > BigInt(b.seq) ? 1 : 0,
  );
  if (links.length === 0) return new ChainVerifier(trusted, copies).finish({ endOfChain: false });
  const first = links[0];
  const from = BigInt(first.seq);
  const verifier =
    from === 1n
      ? new ChainVerifier(trusted, copies)
      : new ChainVerifier(
          trusted,
          copies.filter((c) => BigInt(c.seq) > from),
          from + 1n,
          Buffer.from(first.hash, 'hex'),
        );
  for (const link of from === 1n ? links : links.slice(1)) if (!verifier.push(link)) break;
  // An export can be a range: a checkpoint past its end proves nothing missing.
  return verifier.finish({ endOfChain: false });
}

class UsageError extends Error {}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    if (error instanceof UsageError) console.error(USAGE);
    process.exit(2);
  },
);
