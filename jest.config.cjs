// Jest runs the TypeScript sources as native ES modules (NestJS 12 is ESM-only).
const transform = {
  '^.+\\.ts$': [
    'ts-jest',
    { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: [151002] } },
  ],
};
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
};
module.exports = {
  // Per-project testTimeout is not applied by jest; the global one is.
  testTimeout: 60000,
  // Every test file loads the whole app again into its own module registry, and a process keeps
  // what each file loaded: in one process the heap grows by ~100 MB a file, and garbage
  // collection slows every later file. A limit makes jest run files in a worker process (even a
  // single one) and replace it once it holds more than this after a file.
  workerIdleMemoryLimit: '1GB',
  projects: [
    { ...common, displayName: 'unit', roots: ['<rootDir>/src'], testMatch: ['**/*.spec.ts'] },
    {
      ...common,
      displayName: 'e2e',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/global-setup.mjs',
      globalTeardown: '<rootDir>/test/global-teardown.mjs',
      testTimeout: 30000,
    },
    {
      // A real Chromium with a virtual WebAuthn authenticator (test/browser/).
      ...common,
      displayName: 'browser',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.browser-spec.ts'],
      globalSetup: '<rootDir>/test/global-setup.mjs',
      globalTeardown: '<rootDir>/test/global-teardown.mjs',
      testTimeout: 60000,
    },
  ],
};
