import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Sealed, SecretsBox, SecretUnreadableError, type SecretField } from './secrets-box';

const FIELDS: readonly SecretField[] = ['env', 'headers'];

/** Rows with a value that is not an envelope (written before secrets were sealed). */
const HAS_PLAINTEXT = FIELDS.map(
  (f) => `EXISTS (SELECT 1 FROM jsonb_each(${f}) WHERE jsonb_typeof(value) <> 'object')`,
).join(' OR ');

export interface ResealResult {
  definitions: number;
  values: number;
}

/**
 * Re-seals the secrets of every MCP definition with `to`, in the caller's transaction, rows
 * locked: plain-text values are sealed, values under `from`'s key are opened and sealed again,
 * values already under `to` are kept (so a second run changes nothing). A value under any
 * other key fails the whole run. Without `from`, only rows holding plain text are read.
 */
export async function resealDefinitions(
  manager: EntityManager,
  to: SecretsBox,
  from?: SecretsBox,
): Promise<ResealResult> {
  const rows: { id: string; env: Record<string, unknown>; headers: Record<string, unknown> }[] =
    await manager.query(
      `SELECT id, env, headers FROM mcp_definitions ${from ? '' : `WHERE ${HAS_PLAINTEXT}`}
       ORDER BY id FOR UPDATE`,
    );
  const result: ResealResult = { definitions: 0, values: 0 };
  for (const row of rows) {
    let changed = 0;
    const next = { env: {}, headers: {} } as Record<SecretField, Record<string, unknown>>;
    for (const field of FIELDS) {
      for (const [name, value] of Object.entries(row[field] ?? {})) {
        const slot = { definitionId: row.id, field, name };
        const sealed = Sealed.fromStored(value);
        if (sealed.kid === to.kid) {
          next[field][name] = value;
          continue;
        }
        if (sealed.kid !== null && sealed.kid !== from?.kid) {
          throw new SecretUnreadableError(
            `${field}.${name} of MCP definition ${row.id} is sealed with key ${sealed.kid}, ` +
              `which is neither the old key (${from?.kid ?? 'none given'}) nor the new one (${to.kid})`,
          );
        }
        // Plain text opens as itself; an old envelope opens with the old key.
        const plain = (from ?? to).open(sealed, slot);
        next[field][name] = to.seal(plain, slot).stored;
        changed++;
      }
    }
    if (changed === 0) continue;
    await manager.query(`UPDATE mcp_definitions SET env = $2, headers = $3 WHERE id = $1`, [
      row.id,
      JSON.stringify(next.env),
      JSON.stringify(next.headers),
    ]);
    result.definitions++;
    result.values += changed;
  }
  return result;
}

/** The key ids the stored secrets are sealed with. */
export async function storedKeyIds(manager: EntityManager): Promise<string[]> {
  const rows: { kid: string }[] = await manager.query(
    `SELECT DISTINCT s.value->>'kid' AS kid
       FROM mcp_definitions d
       CROSS JOIN LATERAL (SELECT value FROM jsonb_each(d.env)
                           UNION ALL SELECT value FROM jsonb_each(d.headers)) s
      WHERE jsonb_typeof(s.value) = 'object'
      ORDER BY 1`,
  );
  return rows.map((r) => r.kid);
}

/**
 * The start-up step that makes "secrets are sealed at rest" true for rows written before it
 * was: after the migrations, before the server listens.
 *
 * Why a start-up step and not a migration: sealing needs the key, and the key is the app's
 * configuration (MCP_SECRETS_KEY, or the generated local key file) — which TypeORM migrations
 * cannot see (`npm run migration:run` and the test template run them without it). The
 * migration adds the schema; this step, idempotent and safe with several instances starting
 * at once (rows locked, plain text re-checked under the lock), seals what is still plain.
 * It first refuses to start when stored secrets were sealed with another key: running on
 * would mix keys in one table.
 */
@Injectable()
export class SecretsSealer implements OnModuleInit {
  private readonly log = new Logger(SecretsSealer.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly box: SecretsBox,
  ) {}

  /** Module init: after the migrations, before any background task starts or a request comes. */
  async onModuleInit(): Promise<void> {
    await this.assertSealedWithConfiguredKey();
    const sealed = await this.sealPlaintext();
    if (sealed.values > 0)
      this.log.log(
        `Sealed ${sealed.values} plain-text secret value(s) of ${sealed.definitions} MCP definition(s)`,
      );
  }

  /** Seals every plain-text `env`/`headers` value with the configured key. Idempotent. */
  sealPlaintext(): Promise<ResealResult> {
    return this.dataSource.transaction((manager) => resealDefinitions(manager, this.box));
  }

  async assertSealedWithConfiguredKey(): Promise<void> {
    const others = (await storedKeyIds(this.dataSource.manager)).filter(
      (kid) => kid !== this.box.kid,
    );
    if (others.length > 0) {
      throw new SecretUnreadableError(
        `MCP secrets in the database are sealed with key ${others.join(', ')}, but the ` +
          `configured key (${this.box.source}) is ${this.box.kid}. Start with the key they were ` +
          'sealed with (MCP_SECRETS_KEY); to change keys, use `npm run secrets:rotate`.',
      );
    }
  }
}
