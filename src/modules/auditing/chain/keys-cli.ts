import { createPublicKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileOnce } from '@/common/fs/write-file-once';
import { generateSigningKeyPair, toPublicJwk } from './signing-keys';

/**
 * `npm run keys:generate [-- --out dir]`: a new Ed25519 key pair for signing checkpoints:
 * `audit-signing.key` (private, mode 0600, never overwritten) and `audit-signing.pub.jwk`
 * (the public key as a JWK, what an auditor needs). Prints the settings to use.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: '.' } } });
  const dir = resolve(values.out);
  const privateFile = join(dir, 'audit-signing.key');
  const publicFile = join(dir, 'audit-signing.pub.jwk');
  const { privatePem } = generateSigningKeyPair();
  if (!(await writeFileOnce(privateFile, privatePem)))
    throw new Error(`${privateFile} exists already: not overwritten (choose another --out)`);
  const jwk = await toPublicJwk(createPublicKey(privatePem));
  await writeFile(publicFile, `${JSON.stringify(jwk, null, 2)}\n`);
  console.log(`wrote ${privateFile} (private, keep it secret) and ${publicFile} (public)`);
  console.log(`key id: ${jwk.kid}`);
  console.log(`set AUDIT_SIGNING_KEY_FILE=${privateFile}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
