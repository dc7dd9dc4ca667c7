/**
 * Module doors (`npm run lint:deps`, part of `npm run lint`): a feature module is reached only
 * through its `index.ts`, and `common/` never depends on a feature module. Tests may reach
 * inside (they pin internals on purpose).
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'module-door',
      severity: 'error',
      comment:
        'A module reaches another only through its index.ts (its public face), never its files.',
      from: { path: '^src/modules/([^/]+)/' },
      to: {
        path: '^src/modules/[^/]+/',
        pathNot: ['^src/modules/$1/', '^src/modules/[^/]+/index\\.ts$'],
      },
    },
    {
      name: 'outside-through-the-door',
      severity: 'error',
      comment: 'Code outside the modules (app, bench) imports a module only through its index.ts.',
      from: { path: '^(src|bench)/', pathNot: '^src/modules/' },
      to: { path: '^src/modules/[^/]+/', pathNot: '^src/modules/[^/]+/index\\.ts$' },
    },
    {
      name: 'common-is-not-a-module-client',
      severity: 'error',
      comment: 'common/ is shared plumbing: it never depends on a feature module.',
      from: { path: '^src/common/' },
      to: { path: '^src/modules/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make load order (and decorators) fragile.',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.spec\\.ts$' },
  },
};
