import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { writeFileOnce } from '@/common/fs/write-file-once';
import type { Env } from '@/config/env';

export type SigningEnv = Pick<
  Env,
  | 'NODE_ENV'
  | 'EMBEDDED_PG_DATA_DIR'
  | 'AUDIT_SIGNING_KEY_FILE'
  | 'AUDIT_PREVIOUS_KEYS_FILE'
  | 'AUDIT_CHECKPOINT_FILE'
>;

/** A public key as served at GET /action-logs/public-key (RFC 8037 OKP, `kid` = thumbprint). */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export interface SigningKeys {
  privateKey: KeyObject;
  /** The current key's id: its RFC 7638 JWK thumbprint. */
  keyId: string;
  publicJwk: PublicJwk;
  /** Every key a checkpoint may be signed with: the current one and the earlier ones. */
  trusted: Map<string, KeyObject>;
  /** Set when the key was generated locally (development and test). */
  generatedFile?: string;
}

/** Beside the embedded PostgreSQL's data directory (`./.data/`), like the secrets key. */
function localDir(env: Pick<Env, 'EMBEDDED_PG_DATA_DIR'>): string {
  return dirname(resolve(env.EMBEDDED_PG_DATA_DIR));
}

export function localSigningKeyFile(env: Pick<Env, 'EMBEDDED_PG_DATA_DIR'>): string {
  return join(localDir(env), 'audit-signing.key');
}

export function checkpointFile(env: SigningEnv): string {
  return env.AUDIT_CHECKPOINT_FILE ?? join(localDir(env), 'audit-checkpoints.ndjson');
}

/** A new Ed25519 key pair as PEM (PKCS#8 private, SPKI public). */
export function generateSigningKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

export async function toPublicJwk(key: KeyObject): Promise<PublicJwk> {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.x)
    throw new Error('The audit signing key must be an Ed25519 key');
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x });
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, alg: 'EdDSA', use: 'sig' };
}

/** Public keys from a JWK (one key) or a JWK Set (`{ keys: [...] }`), by their thumbprint. */
export async function readPublicKeys(
  text: string,
  source: string,
): Promise<Map<string, KeyObject>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${source} is not JSON (a JWK or a JWK Set is expected)`);
  }
  const list = (parsed as { keys?: unknown }).keys ?? [parsed];
  if (!Array.isArray(list)) throw new Error(`${source}: "keys" must be an array`);
  const keys = new Map<string, KeyObject>();
  for (const jwk of list as JsonWebKey[]) {
    const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
    keys.set((await toPublicJwk(key)).kid, key);
  }
  return keys;
}

/**
 * The checkpoint signing key: AUDIT_SIGNING_KEY_FILE, or else (development and test only) a
 * local key generated on first start (mode 0600) with a warning. Production without one is
 * refused (validateEnv says so at boot; this is the second lock). Earlier public keys come
 * from AUDIT_PREVIOUS_KEYS_FILE.
 */
export async function loadSigningKeys(
  env: SigningEnv,
  warn: (message: string) => void,
): Promise<SigningKeys> {
  let file = env.AUDIT_SIGNING_KEY_FILE;
  let generatedFile: string | undefined;
  if (!file) {
    if (env.NODE_ENV === 'production')
      throw new Error('AUDIT_SIGNING_KEY_FILE is required when NODE_ENV=production');
    file = generatedFile = localSigningKeyFile(env);
    if (await writeFileOnce(file, generateSigningKeyPair().privatePem))
      warn(
        `AUDIT_SIGNING_KEY_FILE is not set: generated a checkpoint signing key into ${file} ` +
          '(mode 0600). Production requires AUDIT_SIGNING_KEY_FILE.',
      );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(
      `AUDIT_SIGNING_KEY_FILE (${file}) cannot be read as a private key: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const publicJwk = await toPublicJwk(createPublicKey(privateKey));
  const trusted = env.AUDIT_PREVIOUS_KEYS_FILE
    ? await readPublicKeys(
        await readFile(env.AUDIT_PREVIOUS_KEYS_FILE, 'utf8'),
        'AUDIT_PREVIOUS_KEYS_FILE',
      )
    : new Map<string, KeyObject>();
  trusted.set(publicJwk.kid, createPublicKey(privateKey));
  return { privateKey, keyId: publicJwk.kid, publicJwk, trusted, generatedFile };
}
