import { createTestApp } from './helpers/test-app';
it('probe', async () => {
  const t = await createTestApp();
  for (const body of [
    { name: 'z'.repeat(100_000), transport: 'stdio', command: 'x' },
    { name: 'z'.repeat(200), transport: 'stdio', command: 'x' },
    { name: 'ok', transport: 'stdio', command: 'z'.repeat(300_000) },
  ]) {
    const res = await t.http.post('/api/v1/mcp-definitions').send(body);
    console.log(res.status, JSON.stringify(res.body).slice(0, 300));
  }
  await t.close();
});
