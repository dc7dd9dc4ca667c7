import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ServiceUnavailableException,
  UnauthorizedException,
  type HttpException,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import {
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { ANONYMOUS_ACTOR, SYSTEM_ACTOR } from '@/common/context/request-context';
import type { Env, JwtAlgorithm } from '@/config/env';
import type { Authenticator, Identity } from './identity.types';
import { isRole, type Role } from './roles';

/** The variables jwt mode reads. */
export type JwtSettings = Pick<
  Env,
  | 'JWT_ALGORITHMS'
  | 'JWT_PUBLIC_KEY_FILE'
  | 'JWT_SECRET'
  | 'JWT_JWKS_URL'
  | 'JWT_JWKS_COOLDOWN_SECONDS'
  | 'JWT_ISSUER'
  | 'JWT_AUDIENCE'
  | 'JWT_CLOCK_TOLERANCE_SECONDS'
  | 'JWT_ROLES_CLAIM'
>;

type VerificationKey = KeyObject | Uint8Array | JWTVerifyGetKey;

/** Subjects: visible ASCII, as long as the audit trail's actor_id allows. */
const SUBJECT = /^[\x21-\x7e]{1,128}$/;
const RESERVED = new Set([SYSTEM_ACTOR, ANONYMOUS_ACTOR]);

/** The JWKS endpoint could not be read: our problem (503), not the caller's token. */
class KeySetUnavailable extends Error {}

/** Which algorithms fit a public key's type: a token may never pick another family. */
const FAMILIES: Record<string, (alg: JwtAlgorithm) => boolean> = {
  rsa: (a) => /^(RS|PS)/.test(a),
  'rsa-pss': (a) => a.startsWith('PS'),
  ec: (a) => a.startsWith('ES'),
  ed25519: (a) => a === 'EdDSA' || a === 'Ed25519',
};

/**
 * `AUTH_MODE=jwt`: `Authorization: Bearer <token>`, verified by jose with the algorithms
 * pinned by JWT_ALGORITHMS, against exactly one key source (a PEM public key, an HMAC
 * secret, or a remote JWKS). `exp` and `sub` are required; `iss`/`aud` are checked when
 * configured. The actor is `sub`; the roles come from JWT_ROLES_CLAIM. Headers such as
 * X-User-ID are ignored.
 */
export class JwtAuthenticator implements Authenticator {
  private constructor(
    private readonly key: VerificationKey,
    private readonly options: JWTVerifyOptions,
    private readonly rolesClaim: string,
  ) {}

  /** Reads the key at boot; a missing or unusable key stops the service naming the variable. */
  static fromEnv(env: JwtSettings): JwtAuthenticator {
    let algorithms = env.JWT_ALGORITHMS ?? [];
    let key: VerificationKey;
    if (env.JWT_SECRET) {
      key = new TextEncoder().encode(env.JWT_SECRET);
    } else if (env.JWT_PUBLIC_KEY_FILE) {
      const file = env.JWT_PUBLIC_KEY_FILE;
      let pem: string;
      try {
        pem = readFileSync(file, 'utf8');
      } catch (e) {
        throw new Error(`JWT_PUBLIC_KEY_FILE: cannot read ${file} (${(e as Error).message})`, {
          cause: e,
        });
      }
      let publicKey: KeyObject;
      try {
        publicKey = createPublicKey(pem);
      } catch (e) {
        throw new Error(`JWT_PUBLIC_KEY_FILE: ${file} is not a PEM public key`, { cause: e });
      }
      const type = publicKey.asymmetricKeyType ?? 'unknown';
      const fits = FAMILIES[type] ?? (() => false);
      algorithms = algorithms.filter(fits);
      if (algorithms.length === 0) {
        throw new Error(
          `JWT_ALGORITHMS: none of ${(env.JWT_ALGORITHMS ?? []).join(',')} fits the ${type} key in JWT_PUBLIC_KEY_FILE`,
        );
      }
      key = publicKey;
    } else if (env.JWT_JWKS_URL) {
      key = remoteKeySet(new URL(env.JWT_JWKS_URL), env.JWT_JWKS_COOLDOWN_SECONDS);
    } else {
      throw new Error('AUTH_MODE=jwt needs JWT_PUBLIC_KEY_FILE, JWT_SECRET or JWT_JWKS_URL');
    }
    return new JwtAuthenticator(
      key,
      {
        algorithms,
        issuer: env.JWT_ISSUER,
        audience: env.JWT_AUDIENCE?.length ? env.JWT_AUDIENCE : undefined,
        clockTolerance: env.JWT_CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
      },
      env.JWT_ROLES_CLAIM,
    );
  }

  async authenticate(req: FastifyRequest): Promise<Identity> {
    const token = bearerToken(req.headers.authorization);
    if (!token) throw unauthorized('missing bearer token');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as KeyObject, this.options));
    } catch (e) {
      throw refusal(e);
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || !SUBJECT.test(sub)) {
      throw unauthorized('token subject must be 1-128 visible ASCII characters');
    }
    if (RESERVED.has(sub.toLowerCase())) throw unauthorized('token subject is reserved');
    return { actorId: sub, roles: rolesIn(claimAt(payload, this.rolesClaim)) };
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(header) : null;
  return match?.[1];
}

/**
 * jose's remote key set caches the keys, refetches once on an unknown `kid` (at most every
 * cooldown), and fails the token when it is still unknown. Other failures are the endpoint's.
 */
function remoteKeySet(url: URL, cooldownSeconds: number): JWTVerifyGetKey {
  const keySet = createRemoteJWKSet(url, {
    cooldownDuration: cooldownSeconds * 1000,
    timeoutDuration: 5000,
  });
  return async (header, token) => {
    try {
      return await keySet(header, token);
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) {
        throw e;
      }
      throw new KeySetUnavailable((e as Error).message, { cause: e });
    }
  };
}

/** The claim named so (`https://example.com/roles`), else the dotted path (`realm_access.roles`). */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** An array, or a space/comma list; names we do not know (other systems' roles) are ignored. */
function rolesIn(claim: unknown): Role[] {
  const names = Array.isArray(claim)
    ? claim
    : typeof claim === 'string'
      ? claim.split(/[\s,]+/)
      : [];
  return [...new Set(names.filter(isRole))];
}

function unauthorized(reason: string): UnauthorizedException {
  return new UnauthorizedException(reason);
}

/** A short reason for the caller (and the audit trail), never the token or its claims. */
function refusal(e: unknown): HttpException {
  if (e instanceof KeySetUnavailable) {
    return new ServiceUnavailableException('the key set that verifies tokens is unavailable');
  }
  if (e instanceof errors.JWTExpired) return unauthorized('token expired');
  if (e instanceof errors.JWTClaimValidationFailed) {
    const reasons: Record<string, string> = {
      nbf: 'token not yet valid',
      iss: 'token issuer not accepted',
      aud: 'token audience not accepted',
      sub: 'token has no subject',
      exp: 'token has no expiry',
    };
    return unauthorized(reasons[e.claim] ?? `token claim ${e.claim} not accepted`);
  }
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) {
    return unauthorized('token algorithm not accepted');
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) {
    return unauthorized('token signature invalid');
  }
  if (e instanceof errors.JWKSNoMatchingKey) return unauthorized('token key (kid) unknown');
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) {
    return unauthorized('malformed token');
  }
  return unauthorized('invalid token');
}
