/**
 * Two projects in one run: `unit` (specs beside the code) and `e2e` (test/, the real app on a
 * real PostgreSQL). `npm test` runs both; `npm run test:unit` / `npm run test:e2e` select one.
 * NestJS 12 packages are ESM-only: @swc/jest turns them into CommonJS; our TypeScript goes
 * through ts-jest (transpile only — `npm run typecheck` type-checks).
 */
/** @type {import('jest').Config} */
const shared = {
  rootDir: '.',
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
    '^.+\\.m?js$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: [
    '/node_modules/(?!(@nestjs|jose|canonicalize|cookie|file-type|content-disposition|token-types|strtok3|@tokenizer|uint8array-extras|@borewit)/)',
  ],
  moduleNameMapper: { '^@/(.*)$': '<rootDir>/src/$1' },
  // One migrated template database per run (Jest runs a global setup shared by both projects
  // once): the e2e specs need it, and so does src/modules/auditing/auditing.service.spec.ts.
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    { ...shared, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
  // Run-wide options: Jest ignores these inside a project.
  testTimeout: 60_000,
  maxWorkers: 2,
};
