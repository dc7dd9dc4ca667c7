import { plainToInstance, Transform } from 'class-transformer';
import {
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  validateSync,
} from 'class-validator';

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const AUDIT_FAILURE_POLICIES = ['fail-open', 'fail-closed'] as const;
export type AuditFailurePolicy = (typeof AUDIT_FAILURE_POLICIES)[number];

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

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
}

/** Validates and types `process.env`; throws one error that names every bad variable. */
export function validateEnv(raw: Record<string, unknown>): Env {
  const present = Object.fromEntries(
    Object.entries(raw).filter(([, v]) => v !== undefined && v !== ''),
  );
  const env = plainToInstance(Env, present, { exposeDefaultValues: true });
  const errors = validateSync(env, { skipMissingProperties: false, whitelist: false });
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const shown = /URL|SECRET|PASSWORD|KEY/.test(e.property)
        ? '(hidden)'
        : JSON.stringify(e.value);
      return `  ${e.property}=${shown}: ${Object.values(e.constraints ?? {}).join('; ')}`;
    });
    throw new Error(`Invalid environment configuration:\n${lines.join('\n')}`);
  }
  return env;
}
