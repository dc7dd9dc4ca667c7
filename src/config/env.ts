import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateIf,
  validateSync,
} from 'class-validator';
import { parse } from 'dotenv';

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const AUDIT_FAILURE_POLICIES = ['fail-open', 'fail-closed'] as const;
export type AuditFailurePolicy = (typeof AUDIT_FAILURE_POLICIES)[number];

export const AUTH_MODES = ['header', 'jwt'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];
/** The JWS algorithms jose verifies; `none` is not among them, on purpose. */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'HS256',
  'HS384',
  'HS512',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
const ASYMMETRIC_DEFAULT: JwtAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];
const isHmac = (alg: string): boolean => alg.startsWith('HS');

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const toBool = ({ value }: { value: unknown }): unknown =>
  value === 'true' ? true : value === 'false' ? false : value;
const toList = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
    : value;

/** 32 bytes in base64, as `openssl rand -base64 32` prints them. */
export const SECRETS_KEY_PATTERN = /^[A-Za-z0-9+/]{43}=$/;
const SECRETS_KEY_MESSAGE = (name: string) =>
  `${name} must be 32 random bytes in base64 (44 characters, e.g. from \`openssl rand -base64 32\`)`;

/**
 * Every environment variable the service reads. `.env.example` documents each one;
 * `validateEnv` runs at boot and stops the app with a message naming the bad variable.
 */
export class Env {
  @IsIn(NODE_ENVS)
  NODE_ENV: (typeof NODE_ENVS)[number] = 'development';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  /** PostgreSQL connection string; unset → an embedded PostgreSQL under EMBEDDED_PG_DATA_DIR. */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/.+/, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  /**
   * With DATABASE_URL only: the owner's connection string, used to run migrations; the service
   * then connects as DATABASE_URL's role (a member of `mcp_app`, no more). Unset: DATABASE_URL
   * does both (the app works, `/health` says `leastPrivilege: false`).
   */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/.+/, { message: 'DATABASE_MIGRATION_URL must be a postgres:// URL' })
  DATABASE_MIGRATION_URL?: string;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(200)
  DATABASE_POOL_SIZE = 10;

  @IsString()
  EMBEDDED_PG_DATA_DIR = './.data/postgres';

  /** 0 picks a free port at each start. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  EMBEDDED_PG_PORT = 0;

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';

  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  BODY_LIMIT_BYTES = 1024 * 1024;

  /** The whole request (headers and body) must arrive within this, or 408 and the socket closes. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600_000)
  REQUEST_TIMEOUT_MS = 30_000;

  /**
   * A connection with no traffic either way for this long is closed (a client that stops
   * reading). Above Fastify's 72 s keep-alive, which stays the graceful way idle sockets end.
   */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  CONNECTION_IDLE_TIMEOUT_MS = 120_000;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(120_000)
  SHUTDOWN_TIMEOUT_MS = 10_000;

  @IsIn(AUDIT_FAILURE_POLICIES)
  AUDIT_FAILURE_POLICY: AuditFailurePolicy = 'fail-open';

  /** A run still RUNNING this long after it started is marked FAILED by the engine. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  WORKFLOW_RUN_TIMEOUT_SECONDS = 3600;

  /** How often the engine looks for timed-out runs (safe with several instances). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  WORKFLOW_SWEEP_INTERVAL_SECONDS = 5;

  /**
   * The key that seals MCP definitions' `env` and `headers` values at rest (AES-256-GCM).
   * Required in production; in development and test a missing key is generated once into
   * `mcp-secrets.key` beside EMBEDDED_PG_DATA_DIR.
   */
  @ValidateIf((env: Env) => env.NODE_ENV === 'production' || env.MCP_SECRETS_KEY !== undefined)
  @IsDefined({
    message:
      'MCP_SECRETS_KEY is required when NODE_ENV=production: 32 random bytes in base64 (`openssl rand -base64 32`)',
  })
  @Matches(SECRETS_KEY_PATTERN, { message: SECRETS_KEY_MESSAGE('MCP_SECRETS_KEY') })
  MCP_SECRETS_KEY?: string;

  /** `npm run secrets:rotate` only: the key to re-encrypt with (MCP_SECRETS_KEY stays the old). */
  @IsOptional()
  @Matches(SECRETS_KEY_PATTERN, { message: SECRETS_KEY_MESSAGE('MCP_SECRETS_NEW_KEY') })
  MCP_SECRETS_NEW_KEY?: string;

  /** How often pending (not yet stored) audit entries are retried. */
  @Transform(toInt)
  @IsInt()
  @Min(50)
  @Max(600_000)
  AUDIT_RETRY_INTERVAL_MS = 2_000;

  /**
   * The sealer chains stored entries (hash chain) this often; `0` turns it off (entries stay
   * unsealed: for benchmarks that compare the chain on and off, never in production).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60_000)
  AUDIT_SEAL_INTERVAL_MS = 200;

  /** A signed checkpoint every this many chained entries … */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  AUDIT_CHECKPOINT_EVERY = 1_000;

  /** … or this many seconds, whichever comes first (when anything new was chained). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(86_400)
  AUDIT_CHECKPOINT_SECONDS = 10;

  /**
   * The Ed25519 private key (PKCS#8 PEM) that signs checkpoints. Required in production (the
   * start refuses without it, naming the variable); in development and test a missing key is
   * generated once into `audit-signing.key` beside
   * EMBEDDED_PG_DATA_DIR (`npm run keys:generate` writes one anywhere).
   */
  @IsOptional()
  @IsString()
  AUDIT_SIGNING_KEY_FILE?: string;

  /**
   * Earlier public keys (a JWK Set file) whose checkpoints must still verify after a key
   * rotation.
   */
  @IsOptional()
  @IsString()
  AUDIT_PREVIOUS_KEYS_FILE?: string;

  /**
   * The second copy of every checkpoint, one JSON line each, outside the database. Default:
   * `audit-checkpoints.ndjson` beside EMBEDDED_PG_DATA_DIR.
   */
  @IsOptional()
  @IsString()
  AUDIT_CHECKPOINT_FILE?: string;

  /**
   * Entries older than this many days are archived to AUDIT_ARCHIVE_DIR and purged, a whole
   * month (partition) at a time, once the month has ended that long ago and no legal hold
   * covers it. Unset: kept forever.
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(36_500)
  AUDIT_RETENTION_DAYS?: number;

  /** Where archives go (gzip NDJSON + manifest). Default: `audit-archive/` beside EMBEDDED_PG_DATA_DIR. */
  @IsOptional()
  @IsString()
  AUDIT_ARCHIVE_DIR?: string;

  /**
   * How often the retention job runs (months created ahead, expired months archived and
   * purged); `0`: never (an external scheduler, or tests).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(604_800_000)
  AUDIT_RETENTION_INTERVAL_MS = 86_400_000;

  /** Monthly partitions of the action log created ahead of the current month. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(24)
  AUDIT_PARTITIONS_AHEAD = 3;

  /**
   * Rejected attempts (401/403, failed handlers) on audited routes get an entry each, up to
   * this many per (ip, actor) per minute; the rest are summarised in one entry per kind.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  AUDIT_REJECTED_MAX_PER_MINUTE = 60;

  /**
   * How callers are identified: `header` trusts X-User-ID / X-User-Roles (local use),
   * `jwt` verifies a bearer token. Unset: `jwt` in production, `header` otherwise.
   */
  @IsOptional()
  @IsIn(AUTH_MODES)
  AUTH_MODE?: AuthMode;

  /** Allows `AUTH_MODE=header` with NODE_ENV=production (behind a proxy that sets the headers). */
  @Transform(toBool)
  @IsBoolean()
  AUTH_ALLOW_HEADER_MODE = false;

  /** Accepted token algorithms. Unset: HS256 with JWT_SECRET, else RS256,ES256,EdDSA. */
  @IsOptional()
  @Transform(toList)
  @IsIn(JWT_ALGORITHMS, { each: true })
  JWT_ALGORITHMS?: JwtAlgorithm[];

  /** PEM public key (SPKI) that verifies tokens. */
  @IsOptional()
  @IsString()
  JWT_PUBLIC_KEY_FILE?: string;

  /** Shared secret for HS256/384/512 (at least 32 characters). */
  @IsOptional()
  @IsString()
  @MinLength(32)
  JWT_SECRET?: string;

  /** A remote JSON Web Key Set (an identity provider's), cached, refetched on an unknown kid. */
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  JWT_JWKS_URL?: string;

  /** Least time between two fetches of JWT_JWKS_URL (a flood of unknown kids cannot hammer it). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3600)
  JWT_JWKS_COOLDOWN_SECONDS = 30;

  /** Required `iss` when set. */
  @IsOptional()
  @IsString()
  JWT_ISSUER?: string;

  /** Required `aud` when set (a comma list: any of them). */
  @IsOptional()
  @Transform(toList)
  @IsString({ each: true })
  JWT_AUDIENCE?: string[];

  /** Leeway for `exp` and `nbf` (clock skew between the issuer and us). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300)
  JWT_CLOCK_TOLERANCE_SECONDS = 30;

  /** The claim holding the roles (an array, or a space/comma list); a dotted path reaches nested ones. */
  @Matches(/^[A-Za-z0-9_:/-]+(\.[A-Za-z0-9_:/-]+)*$/)
  JWT_ROLES_CLAIM = 'roles';

  /** PEM private key `npm run token` signs with (never read by the service). */
  @IsOptional()
  @IsString()
  JWT_PRIVATE_KEY_FILE?: string;

  /** Requests per actor (per IP when anonymous) per window; 0 turns rate limiting off. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  RATE_LIMIT_MAX = 1000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(86_400)
  RATE_LIMIT_WINDOW_SECONDS = 60;

  /** `on`: this instance executes PENDING runs; `off`: an outside worker moves them by the API. */
  @IsIn(['on', 'off'])
  WORKFLOW_EXECUTOR: 'on' | 'off' = 'on';

  /** Runs one instance executes at the same time. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(256)
  WORKFLOW_MAX_CONCURRENT_RUNS = 4;

  /** A tool call (connecting included) longer than this fails its step and the run. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(86_400)
  WORKFLOW_STEP_TIMEOUT_SECONDS = 60;

  /** How often the executor looks for PENDING runs (others' too) and for cancels of its own. */
  @Transform(toInt)
  @IsInt()
  @Min(50)
  @Max(600_000)
  WORKFLOW_POLL_INTERVAL_MS = 1000;

  /** The only executables the service spawns for stdio MCP servers (names or absolute paths). */
  @Transform(toList)
  @IsString({ each: true })
  MCP_STDIO_COMMANDS: string[] = ['node', 'npx'];

  /**
   * Warm stdio servers kept per definition for the next runs' steps (0: spawn per step). A
   * server serves one call at a time; one that failed, timed out or was cancelled is stopped.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(64)
  MCP_STDIO_POOL_SIZE = 0;
}

/** Rules across variables (class-validator checks one at a time); one problem per entry. */
function crossCheck(env: Env): { property: keyof Env; message: string }[] {
  const problems: { property: keyof Env; message: string }[] = [];
  if (env.DATABASE_MIGRATION_URL && !env.DATABASE_URL) {
    problems.push({
      property: 'DATABASE_MIGRATION_URL',
      message:
        'needs DATABASE_URL (the embedded PostgreSQL creates its owner and runtime roles itself)',
    });
  }
  env.AUTH_MODE ??= env.NODE_ENV === 'production' ? 'jwt' : 'header';
  if (env.AUTH_MODE === 'header' && env.NODE_ENV === 'production' && !env.AUTH_ALLOW_HEADER_MODE) {
    problems.push({
      property: 'AUTH_MODE',
      message:
        'header mode trusts X-User-ID as sent and is refused with NODE_ENV=production; use AUTH_MODE=jwt, or set AUTH_ALLOW_HEADER_MODE=true behind a proxy that sets the headers',
    });
  }
  if (env.AUTH_MODE !== 'jwt') return problems;
  const sources = (['JWT_PUBLIC_KEY_FILE', 'JWT_SECRET', 'JWT_JWKS_URL'] as const).filter(
    (k) => env[k] !== undefined,
  );
  if (sources.length !== 1) {
    problems.push({
      property: 'AUTH_MODE',
      message: `jwt mode needs exactly one of JWT_PUBLIC_KEY_FILE, JWT_SECRET, JWT_JWKS_URL (set: ${sources.join(', ') || 'none'})`,
    });
    return problems;
  }
  env.JWT_ALGORITHMS ??= env.JWT_SECRET ? ['HS256'] : ASYMMETRIC_DEFAULT;
  if (env.JWT_ALGORITHMS.length === 0) {
    problems.push({ property: 'JWT_ALGORITHMS', message: 'name at least one algorithm' });
  } else if (env.JWT_SECRET && !env.JWT_ALGORITHMS.every(isHmac)) {
    problems.push({
      property: 'JWT_ALGORITHMS',
      message: 'JWT_SECRET verifies only HS256, HS384 or HS512',
    });
  } else if (!env.JWT_SECRET && env.JWT_ALGORITHMS.some(isHmac)) {
    // A public key must never double as an HMAC secret (algorithm confusion).
    problems.push({
      property: 'JWT_ALGORITHMS',
      message: 'HS256/HS384/HS512 need JWT_SECRET (and only JWT_SECRET)',
    });
  }
  if (
    env.NODE_ENV === 'production' &&
    env.JWT_JWKS_URL &&
    !env.JWT_JWKS_URL.startsWith('https://')
  ) {
    problems.push({
      property: 'JWT_JWKS_URL',
      message: 'must be https:// in production (keys fetched in clear text can be replaced)',
    });
  }
  return problems;
}

/** Validates and types `process.env`; throws one error that names every bad variable. */
export function validateEnv(raw: Record<string, unknown>): Env {
  const present = Object.fromEntries(
    Object.entries(raw).filter(([, v]) => v !== undefined && v !== ''),
  );
  const env = plainToInstance(Env, present, { exposeDefaultValues: true });
  const errors = validateSync(env, { skipMissingProperties: false, whitelist: false });
  const problems = errors.map((e) => ({
    property: e.property,
    value: e.value as unknown,
    message: Object.values(e.constraints ?? {}).join('; '),
  }));
  if (problems.length === 0) {
    for (const p of crossCheck(env)) problems.push({ ...p, value: env[p.property] });
  }
  if (problems.length > 0) {
    const lines = problems.map((p) => {
      const shown = /URL|SECRET|PASSWORD|KEY/.test(p.property)
        ? '(hidden)'
        : JSON.stringify(p.value);
      return `  ${p.property}=${shown}: ${p.message}`;
    });
    throw new Error(`Invalid environment configuration:\n${lines.join('\n')}`);
  }
  return env;
}

export interface LoadEnvOptions {
  /** Where to look for `.env` (default: the working directory). */
  cwd?: string;
  /** The real environment (default: `process.env`); its variables win over `.env`'s. */
  env?: Record<string, string | undefined>;
}

/**
 * The one source of configuration: `<cwd>/.env` (when present) under the real environment,
 * validated once. main.ts, the migration CLI, `ormconfig.ts` and `AppModule`'s ConfigModule
 * all read it through here, so a variable set in `.env` reaches every one of them.
 *
 * @example
 * const env = loadEnv(); // PORT=8080 in .env, nothing exported → env.PORT === 8080
 */
export function loadEnv({ cwd = process.cwd(), env = process.env }: LoadEnvOptions = {}): Env {
  return validateEnv({ ...readEnvFile(join(cwd, '.env')), ...env });
}

function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`Cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  return parse(text);
}
