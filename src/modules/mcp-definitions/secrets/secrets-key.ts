import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { writeFileOnce } from '@/common/fs/write-file-once';
import { SECRETS_KEY_PATTERN, type Env } from '@/config/env';
import { SecretsBox } from './secrets-box';

export type KeyEnv = Pick<Env, 'NODE_ENV' | 'MCP_SECRETS_KEY' | 'EMBEDDED_PG_DATA_DIR'>;

/** The local key file: beside the embedded PostgreSQL's data directory (`./.data/`). */
export function secretsKeyFile(env: Pick<Env, 'EMBEDDED_PG_DATA_DIR'>): string {
  return join(dirname(resolve(env.EMBEDDED_PG_DATA_DIR)), 'mcp-secrets.key');
}

export function parseSecretsKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  if (!SECRETS_KEY_PATTERN.test(trimmed))
    throw new Error(`${source} does not hold a secrets key (32 bytes in base64)`);
  return Buffer.from(trimmed, 'base64');
}

export interface LoadedKey {
  box: SecretsBox;
  /** Set when the key lives in the local key file. */
  file?: string;
}

/**
 * The key that seals MCP secrets: `MCP_SECRETS_KEY`, or else (development and test only) the
 * local key file, generated on first use (mode 0600) with a warning. In production a missing
 * key is refused (validateEnv already says so at boot; this is the second lock).
 * `create: false` (key rotation) never generates one.
 */
export async function loadSecretsBox(
  env: KeyEnv,
  warn: (message: string) => void,
  options: { create?: boolean } = {},
): Promise<LoadedKey> {
  if (env.MCP_SECRETS_KEY)
    return { box: new SecretsBox(parseSecretsKey(env.MCP_SECRETS_KEY, 'MCP_SECRETS_KEY')) };
  if (env.NODE_ENV === 'production')
    throw new Error('MCP_SECRETS_KEY is required when NODE_ENV=production');
  const file = secretsKeyFile(env);
  const existing = await readKeyFile(file);
  if (existing) return { box: new SecretsBox(existing, file), file };
  if (options.create === false)
    throw new Error(`No secrets key: MCP_SECRETS_KEY is not set and ${file} does not exist`);
  const created = await createKeyFile(file, randomBytes(32));
  if (created)
    warn(
      `MCP_SECRETS_KEY is not set: generated a secrets key into ${file} (mode 0600). Keep it: ` +
        'without it the stored MCP secrets cannot be read. Production requires MCP_SECRETS_KEY.',
    );
  // Another process may have won the race to create it: the file is the truth.
  const key = (await readKeyFile(file))!;
  return { box: new SecretsBox(key, file), file };
}

async function readKeyFile(file: string): Promise<Buffer | undefined> {
  try {
    return parseSecretsKey(await readFile(file, 'utf8'), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes a new key file (mode 0600) unless it exists; false when it existed already. */
export function createKeyFile(file: string, key: Buffer): Promise<boolean> {
  return writeFileOnce(file, `${key.toString('base64')}\n`);
}

/** Replaces (or creates) a key file, created afresh with mode 0600. */
export async function writeKeyFile(file: string, key: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await rm(file, { force: true });
  await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
}
