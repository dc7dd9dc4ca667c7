import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JwtAuthenticator, type JwtSettings } from './jwt.authenticator';

const base: JwtSettings = {
  JWT_ALGORITHMS: ['RS256', 'ES256', 'EdDSA'],
  JWT_JWKS_COOLDOWN_SECONDS: 30,
  JWT_CLOCK_TOLERANCE_SECONDS: 30,
  JWT_ROLES_CLAIM: 'roles',
};

/** Boot-time refusals of a key the service could not use: each names the variable. */
describe(JwtAuthenticator.name, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'jwt-spec-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const rsaPublicKey = () => {
    const file = join(dir, 'rsa.pem');
    const { publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    writeFileSync(file, publicKey);
    return file;
  };

  it('refuses a key file it cannot read', () => {
    expect(() =>
      JwtAuthenticator.fromEnv({ ...base, JWT_PUBLIC_KEY_FILE: join(dir, 'missing.pem') }),
    ).toThrow(/^JWT_PUBLIC_KEY_FILE: cannot read/);
  });

  it('refuses a file that is not a PEM public key', () => {
    const file = join(dir, 'junk.pem');
    writeFileSync(file, 'hello');
    expect(() => JwtAuthenticator.fromEnv({ ...base, JWT_PUBLIC_KEY_FILE: file })).toThrow(
      /^JWT_PUBLIC_KEY_FILE: .* is not a PEM public key/,
    );
  });

  it('refuses algorithms none of which fits the key (an RSA key with ES256 only)', () => {
    expect(() =>
      JwtAuthenticator.fromEnv({
        ...base,
        JWT_ALGORITHMS: ['ES256'],
        JWT_PUBLIC_KEY_FILE: rsaPublicKey(),
      }),
    ).toThrow(/^JWT_ALGORITHMS: none of ES256 fits the rsa key/);
  });

  it('accepts an RSA key with the default algorithms', () => {
    expect(
      JwtAuthenticator.fromEnv({ ...base, JWT_PUBLIC_KEY_FILE: rsaPublicKey() }),
    ).toBeDefined();
  });
});
