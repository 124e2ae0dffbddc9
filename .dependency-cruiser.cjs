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
      name: 'apps-do-not-import-other-apps',
      comment: 'each app is a service of its own; what two apps share lives in libs. apps/lab is the composition root: it starts the other apps through their start functions.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/', pathNot: '^apps/lab/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'lab-starts-apps-through-their-entry-points',
      comment: 'apps/lab composes the services through their entry points (start-*.ts, and index.ts for what else an app offers), not their internals.',
      severity: 'error',
      from: { path: '^apps/lab/' },
      to: { path: '^apps/(?!lab/)[^/]+/src/', pathNot: '^apps/[^/]+/src/(start-[^/]+|index)\\.ts$' },
    },
    {
      name: 'tools-and-tests-use-public-entry-points',
      comment: 'tools and tests import a lib through its index (@locus/<lib>) and an app through its entry points (start-*.ts, index.ts), never their internals.',
      severity: 'error',
      from: { path: '^(tools|test)/' },
      to: { path: ['^libs/[^/]+/src/(?!index\\.ts$)', '^apps/[^/]+/src/(?!(start-[^/]+|index)\\.ts$)'] },
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
