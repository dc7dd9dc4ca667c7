import { Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type { Env } from '@/config/env';
import { AccessGuard } from './access.guard';
import { HeaderAuthenticator } from './header.authenticator';
import { AUTHENTICATOR, type Authenticator } from './identity.types';
import { JwtAuthenticator, type JwtSettings } from './jwt.authenticator';

/**
 * Identity and access: who calls (header or jwt mode), what their roles allow (`@Roles`,
 * `@Public`), and how often (rate limit). One global guard; the rest of the app reads the
 * actor from the request context.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) => {
        const max = config.get('RATE_LIMIT_MAX', { infer: true });
        const seconds = config.get('RATE_LIMIT_WINDOW_SECONDS', { infer: true });
        return {
          // RATE_LIMIT_MAX=0 (off) is handled by the guard; the library wants a positive limit.
          throttlers: [{ limit: Math.max(1, max), ttl: seconds * 1000 }],
          errorMessage: `rate limit of ${max} requests per ${seconds} s reached; retry after Retry-After seconds`,
        };
      },
    }),
  ],
  providers: [
    {
      provide: AUTHENTICATOR,
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>): Authenticator => {
        const mode = config.get('AUTH_MODE', { infer: true });
        if (mode === 'jwt') return JwtAuthenticator.fromEnv(envOf(config));
        if (config.get('NODE_ENV', { infer: true }) === 'production') {
          new Logger('Identity').warn(
            'AUTH_MODE=header in production (AUTH_ALLOW_HEADER_MODE=true): X-User-ID and X-User-Roles are trusted as sent; only safe behind a proxy that sets them',
          );
        }
        return new HeaderAuthenticator();
      },
    },
    { provide: APP_GUARD, useClass: AccessGuard },
  ],
})
export class IdentityModule {}

function envOf(config: ConfigService<Env, true>): JwtSettings {
  const get = <K extends keyof JwtSettings>(key: K) => config.get(key, { infer: true });
  return {
    JWT_ALGORITHMS: get('JWT_ALGORITHMS'),
    JWT_PUBLIC_KEY_FILE: get('JWT_PUBLIC_KEY_FILE'),
    JWT_SECRET: get('JWT_SECRET'),
    JWT_JWKS_URL: get('JWT_JWKS_URL'),
    JWT_JWKS_COOLDOWN_SECONDS: get('JWT_JWKS_COOLDOWN_SECONDS'),
    JWT_ISSUER: get('JWT_ISSUER'),
    JWT_AUDIENCE: get('JWT_AUDIENCE'),
    JWT_CLOCK_TOLERANCE_SECONDS: get('JWT_CLOCK_TOLERANCE_SECONDS'),
    JWT_ROLES_CLAIM: get('JWT_ROLES_CLAIM'),
  };
}
