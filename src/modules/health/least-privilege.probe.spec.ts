import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { LeastPrivilegeProbe } from './least-privilege.probe';

describe(LeastPrivilegeProbe.name, () => {
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  afterEach(() => warn.mockClear());
  afterAll(() => warn.mockRestore());

  const probe = (answer: () => Promise<unknown>) =>
    new LeastPrivilegeProbe({ query: jest.fn(answer) } as unknown as DataSource);

  it('warns at start when the service could rewrite its own trail', async () => {
    await probe(() => Promise.resolve([{ leastPrivilege: false }])).onApplicationBootstrap();
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/leastPrivilege: false/));
  });

  it('says nothing at start with least privilege', async () => {
    await probe(() => Promise.resolve([{ leastPrivilege: true }])).onApplicationBootstrap();
    expect(warn).not.toHaveBeenCalled();
  });

  it('keeps the last answer while the catalog cannot be read', async () => {
    let up = true;
    const sut = probe(() =>
      up ? Promise.resolve([{ leastPrivilege: true }]) : Promise.reject(new Error('down')),
    );
    expect(await sut.check()).toBe(true);
    up = false;
    expect(await sut.check()).toBe(true);
  });
});
