import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Roles } from '@/modules/identity';
import { createTestApp, type TestApp } from './helpers/test-app';

@Roles('editor')
@Controller('test-echo')
class EchoController {
  @Post()
  @HttpCode(200)
  echo(@Body() body: unknown): unknown {
    return body;
  }
}

describe('Foundation (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ metadata: { controllers: [EchoController] }, bodyLimit: 1024 });
  });
  afterAll(() => t.close());

  it('reports health 200 with the database up', async () => {
    const res = await t.http.get('/api/v1/health').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
  });

  it('applied the migrations at start-up', async () => {
    const { rows } = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM migrations');
    expect(Number(rows[0].n)).toBeGreaterThanOrEqual(0);
    await expect(t.db.query('SELECT 1 FROM migrations')).resolves.toBeDefined();
  });

  it('has entities that match the migrated schema (migration:generate would write nothing)', async () => {
    const pending = await t.app.get(DataSource).driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('echoes a given X-Request-ID and correlation id', async () => {
    const res = await t.http
      .get('/api/v1/health')
      .set('X-Request-ID', 'req-given-123')
      .set('X-Correlation-ID', 'corr-9')
      .expect(200);
    expect(res.headers['x-request-id']).toBe('req-given-123');
    expect(res.headers['x-correlation-id']).toBe('corr-9');
  });

  it('generates a request id when none (or an unsafe one) is given', async () => {
    const a = await t.http.get('/api/v1/health').expect(200);
    const b = await t.http
      .get('/api/v1/health')
      .set('X-Request-ID', 'bad id\twith spaces')
      .expect(200);
    for (const res of [a, b]) {
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers['x-correlation-id']).toBe(res.headers['x-request-id']);
    }
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it('answers an unknown route with a 404 JSON error carrying the request id', async () => {
    const res = await t.http.get('/api/v1/nope').set('X-Request-ID', 'r-404').expect(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.headers['x-request-id']).toBe('r-404');
    expect(res.body).toEqual({
      statusCode: 404,
      message: 'Cannot GET /api/v1/nope',
      error: 'Not Found',
      requestId: 'r-404',
    });
  });

  it('rejects a body over the limit with 413', async () => {
    const res = await t.http
      .post('/api/v1/test-echo')
      .set('X-Request-ID', 'r-413')
      .send({ blob: 'x'.repeat(2048) })
      .expect(413);
    expect(res.headers['x-request-id']).toBe('r-413');
    expect(res.body).toMatchObject({ statusCode: 413, requestId: 'r-413' });
  });

  it('accepts a body under the limit', async () => {
    await t.http.post('/api/v1/test-echo').send({ a: 1 }).expect(200, { a: 1 });
  });

  it('answers malformed JSON with 400, not 500', async () => {
    const res = await t.http
      .post('/api/v1/test-echo')
      .set('Content-Type', 'application/json')
      .send('{"a":')
      .expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
  });

  it('serves the OpenAPI document', async () => {
    const res = await t.http.get('/docs-json').expect(200);
    expect(res.body.openapi).toMatch(/^3\./);
    expect(Object.keys(res.body.paths)).toContain('/api/v1/health');
  });
});
