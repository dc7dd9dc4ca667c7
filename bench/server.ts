import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { DiscoveryService, NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '@/app.module';
import { configureApp, createAdapter } from '@/bootstrap';
import { AuditedRead } from '@/modules/auditing';
import { BenchModule } from './bench.module';

/** The real app plus the bench endpoints, on DATABASE_URL; prints "ready" when listening. */
async function main(): Promise<void> {
  @Module({ imports: [AppModule.forRoot(), BenchModule] })
  class BenchAppModule {}
  const app = await NestFactory.create<NestFastifyApplication>(
    BenchAppModule,
    createAdapter({ bodyLimit: 1024 * 1024, requestTimeoutMs: 30_000, idleTimeoutMs: 120_000 }),
    {
      bufferLogs: true,
    },
  );
  if (process.env.BENCH_READ_AUDIT === 'off') {
    // The baseline of `npm run bench:reads`: the trail's routes without their read entries.
    for (const wrapper of app.get(DiscoveryService).getControllers()) {
      if (wrapper.metatype) Reflect.deleteMetadata(AuditedRead.KEY, wrapper.metatype);
    }
  }
  await configureApp(app);
  await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();
