import { Module, ValidationPipe, type DynamicModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DestinationStream } from 'pino';
import { ContextModule } from '@/common/context/context.module';
import { AllExceptionsFilter } from '@/common/errors/all-exceptions.filter';
import { LoggingModule } from '@/common/logging/logging.module';
import { loadEnv, type Env } from '@/config/env';
import { dataSourceOptions } from '@/database/data-source-options';
import { runMigrations } from '@/database/migrate';
import { OwnerDatabaseModule } from '@/database/owner-database.module';
import { AuditingModule } from '@/modules/auditing';
import { HealthModule } from '@/modules/health';
import { IdentityModule } from '@/modules/identity';
import { McpDefinitionsModule } from '@/modules/mcp-definitions';
import { WorkflowsModule } from '@/modules/workflows';

export interface AppModuleOptions {
  /** Overrides DATABASE_URL (main.ts passes the embedded server's URL). */
  databaseUrl?: string;
  /**
   * Who runs the migrations (the owner), with `databaseUrl`; unset → `databaseUrl` does. Without
   * `databaseUrl`, DATABASE_MIGRATION_URL.
   */
  migrationUrl?: string;
  /** Where logs go (stdout by default). */
  logStream?: DestinationStream;
  /** Entity classes beyond the `*.entity.ts` files under src (test fixtures). */
  entities?: EntityClass[];
  /** The configuration main.ts already loaded; by default `loadEnv()` (`.env` under process.env). */
  config?: Env;
}

type EntityClass = new (...args: never[]) => object;

@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // ConfigModule reads no .env of its own: `loadEnv` is the one loader (real env wins).
        ConfigModule.forRoot({
          isGlobal: true,
          cache: true,
          ignoreEnvFile: true,
          validate: (raw) => options.config ?? loadEnv({ env: raw }),
        }),
        LoggingModule.forRoot(options.logStream),
        OwnerDatabaseModule.forRoot(options),
        TypeOrmModule.forRootAsync({
          inject: [ConfigService],
          useFactory: async (config: ConfigService<Env, true>) => {
            const url = options.databaseUrl ?? config.get('DATABASE_URL', { infer: true });
            if (!url) throw new Error('No database: set DATABASE_URL or start through main.ts');
            const migrationUrl = options.databaseUrl
              ? options.migrationUrl
              : config.get('DATABASE_MIGRATION_URL', { infer: true });
            // Two roles: the owner migrates on its own connection, the pool never is the owner.
            const separateOwner = migrationUrl !== undefined && migrationUrl !== url;
            if (separateOwner) await runMigrations(migrationUrl);
            const base = dataSourceOptions({
              url,
              poolSize: config.get('DATABASE_POOL_SIZE', { infer: true }),
            });
            return {
              ...base,
              entities: [...(base.entities as string[]), ...(options.entities ?? [])],
              migrationsRun: !separateOwner,
            };
          },
        }),
        ContextModule,
        IdentityModule,
        AuditingModule,
        HealthModule,
        McpDefinitionsModule,
        WorkflowsModule,
      ],
      providers: [
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({
            whitelist: true,
            forbidNonWhitelisted: true,
            transform: true,
          }),
        },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
      ],
    };
  }
}
