import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '@/config/env';

/**
 * The owner's database URL (who runs the migrations), for the few jobs that need the owner's
 * rights at run time: the retention job detaches and drops expired partitions of the action
 * log, which the service's own role can never do. It is the URL the service already holds to
 * migrate at start-up; the pool never connects with it.
 */
export const OWNER_DATABASE_URL = Symbol('OWNER_DATABASE_URL');

@Global()
@Module({})
export class OwnerDatabaseModule {
  /** `databaseUrl`/`migrationUrl` as AppModule.forRoot takes them (see AppModuleOptions). */
  static forRoot(options: { databaseUrl?: string; migrationUrl?: string }): DynamicModule {
    return {
      module: OwnerDatabaseModule,
      providers: [
        {
          provide: OWNER_DATABASE_URL,
          inject: [ConfigService],
          useFactory: (config: ConfigService<Env, true>): string | undefined =>
            options.databaseUrl
              ? (options.migrationUrl ?? options.databaseUrl)
              : (config.get('DATABASE_MIGRATION_URL', { infer: true }) ??
                config.get('DATABASE_URL', { infer: true })),
        },
      ],
      exports: [OWNER_DATABASE_URL],
    };
  }
}
