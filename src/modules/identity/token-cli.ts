/**
 * `npm run token`: a development token for jwt mode, or a key pair to start with.
 *
 *   npm run token -- --generate-keys .data/jwt
 *   JWT_PRIVATE_KEY_FILE=.data/jwt/private.pem npm run -s token -- --sub alice --roles editor,viewer
 *
 * Signs with JWT_PRIVATE_KEY_FILE (PEM; RS256, ES256 or EdDSA after the key's type) or
 * JWT_SECRET (HS256), adds JWT_ISSUER / JWT_AUDIENCE when set and puts the roles under
 * JWT_ROLES_CLAIM, like the service expects. Prints only the token.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT, type JWTPayload } from 'jose';
import { isRole, ROLES } from './roles';

const USAGE = `usage:
  npm run -s token -- --sub <actor> [--roles viewer,editor,operator,auditor,admin] [--ttl 1h]
  npm run token -- --generate-keys <dir>`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function generateKeys(dir: string): void {
  const { publicKey, privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  mkdirSync(dir, { recursive: true });
  const priv = join(dir, 'private.pem');
  const pub = join(dir, 'public.pem');
  writeFileSync(priv, privateKey, { mode: 0o600 });
  writeFileSync(pub, publicKey);
  process.stdout.write(
    `Wrote ${priv} (keep it) and ${pub} (ES256).\n` +
      `Start the service:  AUTH_MODE=jwt JWT_PUBLIC_KEY_FILE=${pub} npm start\n` +
      `Mint a token:       JWT_PRIVATE_KEY_FILE=${priv} npm run -s token -- --sub alice --roles editor,viewer\n`,
  );
}

function signingKey(): { key: KeyObject | Uint8Array; alg: string } {
  const file = process.env.JWT_PRIVATE_KEY_FILE;
  const secret = process.env.JWT_SECRET;
  if (file) {
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(file, 'utf8'));
    } catch (e) {
      fail(
        `JWT_PRIVATE_KEY_FILE: cannot use ${file} as a PEM private key (${(e as Error).message})`,
      );
    }
    const type = key.asymmetricKeyType;
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (type === 'rsa') return { key, alg: 'RS256' };
    if (type === 'ec' && curve === 'prime256v1') return { key, alg: 'ES256' };
    if (type === 'ed25519') return { key, alg: 'EdDSA' };
    fail(`JWT_PRIVATE_KEY_FILE: a ${type} key${curve ? ` (${curve})` : ''} is not supported here`);
  }
  if (secret) return { key: new TextEncoder().encode(secret), alg: 'HS256' };
  fail('set JWT_PRIVATE_KEY_FILE (a PEM private key) or JWT_SECRET to sign with');
}

/**
 * `roles` → { roles: [...] }; `realm_access.roles` → { realm_access: { roles: [...] } };
 * a namespaced name (`https://example.com/roles`) stays one claim.
 */
function withClaim(path: string, value: unknown): JWTPayload {
  if (path.includes('/')) return { [path]: value };
  return path
    .split('.')
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as JWTPayload;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      roles: { type: 'string', default: '' },
      ttl: { type: 'string', default: '1h' },
      'generate-keys': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values['generate-keys']) return generateKeys(values['generate-keys']);
  if (!values.sub) fail('--sub is required');
  const roles = values.roles
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = roles.filter((r) => !isRole(r));
  if (unknown.length) fail(`unknown role(s) ${unknown.join(', ')}; roles: ${ROLES.join(', ')}`);
  if (!/^\d+\s*(s|sec|m|min|h|hr|d|day)s?$/i.test(values.ttl)) fail('--ttl like 30m, 1h or 7d');

  const { key, alg } = signingKey();
  const jwt = new SignJWT(withClaim(process.env.JWT_ROLES_CLAIM || 'roles', roles))
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setSubject(values.sub)
    .setIssuedAt()
    .setExpirationTime(values.ttl);
  if (process.env.JWT_ISSUER) jwt.setIssuer(process.env.JWT_ISSUER);
  const audience = process.env.JWT_AUDIENCE?.split(',')[0]?.trim();
  if (audience) jwt.setAudience(audience);
  process.stdout.write(`${await jwt.sign(key)}\n`);
}

main().catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));
