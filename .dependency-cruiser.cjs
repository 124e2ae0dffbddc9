/** Architecture rules checked in CI (`npm run lint:deps`). */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'libs/domain holds the move rules as pure functions: no framework, broker, database or I/O imports.',
      severity: 'error',
      from: { path: '^libs/domain' },
      to: { path: ['node_modules/(@nestjs|nats|pg|typeorm|pino|rxjs)', '^(fs|net|http|child_process|node:)'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'domain-depends-only-on-contracts',
      severity: 'error',
      from: { path: '^libs/domain' },
      to: { path: '^libs/(?!domain|contracts)' },
    },
    {
      name: 'contracts-stand-alone',
      comment: 'contracts are the one source of truth every app imports; they import nothing of ours.',
      severity: 'error',
      from: { path: '^libs/contracts' },
      to: { path: '^(libs/(?!contracts)|apps)' },
    },
    {
      name: 'libs-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs' },
      to: { path: '^apps' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '(\\.spec\\.ts$|^dist)' },
    tsPreCompilationDeps: true,
  },
};
