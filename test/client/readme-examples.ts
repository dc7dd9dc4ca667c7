/**
 * The README's main examples through a client generated from openapi.json
 * (`openapi-typescript` → api.d.ts, `openapi-fetch` for the calls), exactly as a client author
 * would write them: no casts, strict TypeScript. test/typed-client.e2e-spec.ts compiles this
 * file on its own with `tsc --strict` and runs it against the app.
 */
import createClient from 'openapi-fetch';
import type { paths } from './api';

export function apiClient(baseUrl: string, headers: Record<string, string> = {}) {
  return createClient<paths>({ baseUrl, headers });
}

export type ApiClient = ReturnType<typeof apiClient>;

/** Register a definition, change it, publish a version, read its history. */
export async function definitionLifecycle(api: ApiClient) {
  const created = await api.POST('/api/v1/mcp-definitions', {
    body: {
      name: 'filesystem',
      transport: 'stdio',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'],
      env: { TOKEN: 's3cret' },
      tags: ['files'],
    },
  });
  if (!created.data) throw new Error(`create failed: ${JSON.stringify(created.error)}`);
  const id = created.data.id;

  const page = await api.GET('/api/v1/mcp-definitions', {
    params: { query: { name: 'file', tag: 'files', limit: 20 } },
  });
  const changed = await api.PATCH('/api/v1/mcp-definitions/{id}', {
    params: { path: { id } },
    body: { description: 'Local files' },
  });
  const version = await api.POST('/api/v1/mcp-definitions/{id}/versions', {
    params: { path: { id } },
    body: { version: '1.0.0', manifest: { tools: [] } },
  });
  const missing = await api.GET('/api/v1/mcp-definitions/{id}', {
    params: { path: { id: '00000000-0000-4000-8000-000000000000' } },
  });
  const history = await api.GET('/api/v1/action-logs/entities/{entityType}/{entityId}', {
    params: { path: { entityType: 'MCP_DEFINITION', entityId: id } },
  });
  return {
    id,
    env: created.data.env,
    listed: page.data?.items.map((d) => d.name),
    description: changed.data?.description,
    version: version.data?.version,
    notFound: missing.error && { status: missing.response.status, message: missing.error.message },
    actions: history.data?.items.map((e) => e.actionType),
  };
}

/** Create a workflow, start a run (no body: it is optional), move it to RUNNING, cancel it. */
export async function runLifecycle(api: ApiClient, mcpDefinitionId: string) {
  const workflow = await api.POST('/api/v1/workflows', {
    body: {
      name: 'nightly-report',
      steps: [
        { name: 'read-config', mcpDefinitionId, tool: 'read_file', input: { path: '/etc/hosts' } },
      ],
    },
  });
  if (!workflow.data) throw new Error(`create failed: ${JSON.stringify(workflow.error)}`);
  const run = await api.POST('/api/v1/workflows/{id}/runs', {
    params: { path: { id: workflow.data.id } },
  });
  if (!run.data) throw new Error(`start failed: ${JSON.stringify(run.error)}`);
  const running = await api.PATCH('/api/v1/workflow-runs/{id}/status', {
    params: { path: { id: run.data.id } },
    body: { status: 'RUNNING' },
  });
  const cancelled = await api.POST('/api/v1/workflow-runs/{id}/cancel', {
    params: { path: { id: run.data.id } },
  });
  const again = await api.POST('/api/v1/workflow-runs/{id}/cancel', {
    params: { path: { id: run.data.id } },
  });
  return {
    statuses: [run.data.status, running.data?.status, cancelled.data?.status],
    conflict: again.error && again.response.status,
  };
}
