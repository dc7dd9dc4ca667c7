import { randomBytes } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import { ClsService } from 'nestjs-cls';
import { StdioPolicy } from './stdio-policy';
import type { TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { NotFoundError } from '@/common/errors/domain-error';
import type { McpDefinition } from './entities/mcp-definition.entity';
import { McpDefinitionsService } from './mcp-definitions.service';
import { SecretsBox, SecretUnreadableError } from './secrets/secrets-box';

const ID = '0b0f3a52-6d0e-4a4e-9a55-5c2f3c1d7e01';

describe(`${McpDefinitionsService.name}.resolveSecrets`, () => {
  const box = new SecretsBox(randomBytes(32));
  const stored: Partial<McpDefinition> = {
    id: ID,
    env: box.sealMap(ID, 'env', { API_TOKEN: 'env-value' }),
    headers: box.sealMap(ID, 'headers', { Authorization: 'Bearer header-value' }),
  };
  const findOne = jest.fn(({ where }: { where: { id: string } }) =>
    Promise.resolve(where.id === ID ? stored : null),
  );
  const txHost = {
    get tx() {
      return { getRepository: () => ({ findOne }) };
    },
  } as unknown as TransactionHost<TransactionalAdapterTypeOrm>;

  it('opens env and headers in the caller’s transaction', async () => {
    const sut = new McpDefinitionsService(
      txHost,
      box,
      new StdioPolicy(new ClsService(new AsyncLocalStorage())),
    );
    await expect(sut.resolveSecrets(ID)).resolves.toEqual({
      env: { API_TOKEN: 'env-value' },
      headers: { Authorization: 'Bearer header-value' },
    });
  });

  it('says an unknown definition is not found', async () => {
    const sut = new McpDefinitionsService(
      txHost,
      box,
      new StdioPolicy(new ClsService(new AsyncLocalStorage())),
    );
    await expect(sut.resolveSecrets('7a1c9e04-2b3d-4f5e-8a6b-9c0d1e2f3a4b')).rejects.toThrow(
      NotFoundError,
    );
  });

  it('fails clearly with the wrong key, naming the value but not showing it', async () => {
    const sut = new McpDefinitionsService(
      txHost,
      new SecretsBox(randomBytes(32), 'other.key'),
      new StdioPolicy(new ClsService(new AsyncLocalStorage())),
    );
    const failure = sut.resolveSecrets(ID);
    await expect(failure).rejects.toThrow(SecretUnreadableError);
    await expect(sut.resolveSecrets(ID)).rejects.toThrow(
      new RegExp(
        `^Cannot open env\\.API_TOKEN of MCP definition ${ID}: it was sealed with key ${box.kid}, but the configured key \\(other\\.key\\) is [0-9a-f]{8}$`,
      ),
    );
  });
});
