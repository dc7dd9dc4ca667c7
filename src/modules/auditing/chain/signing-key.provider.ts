import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '@/config/env';
import { checkpointFile, loadSigningKeys, type SigningKeys } from './signing-keys';

/**
 * The checkpoint signing key, loaded (or, in development and test, generated) at start-up,
 * so a key that cannot be read stops the service before it serves anything.
 */
@Injectable()
export class SigningKeyProvider implements OnModuleInit {
  private readonly logger = new Logger(SigningKeyProvider.name);
  private loaded: Promise<SigningKeys> | undefined;
  readonly checkpointFile: string;

  constructor(private readonly config: ConfigService<Env, true>) {
    this.checkpointFile = checkpointFile(this.env());
  }

  async onModuleInit(): Promise<void> {
    await this.get();
  }

  get(): Promise<SigningKeys> {
    this.loaded ??= loadSigningKeys(this.env(), (message) => this.logger.warn(message));
    return this.loaded;
  }

  private env() {
    const get = <K extends keyof Env>(key: K) => this.config.get(key, { infer: true }) as Env[K];
    return {
      NODE_ENV: get('NODE_ENV'),
      EMBEDDED_PG_DATA_DIR: get('EMBEDDED_PG_DATA_DIR'),
      AUDIT_SIGNING_KEY_FILE: get('AUDIT_SIGNING_KEY_FILE'),
      AUDIT_PREVIOUS_KEYS_FILE: get('AUDIT_PREVIOUS_KEYS_FILE'),
      AUDIT_CHECKPOINT_FILE: get('AUDIT_CHECKPOINT_FILE'),
    };
  }
}
