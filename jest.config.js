// Two projects: pure unit specs beside the code (no I/O) and integration tests under test/
// that talk to the real NATS and Postgres of this machine.
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022', keepClassNames: true } }];
const moduleNameMapper = { '^@locus/(.*)$': '<rootDir>/libs/$1/src' };
module.exports = {
  testTimeout: 60000,
  projects: [
    { displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts', '<rootDir>/tools/**/*.spec.ts'], transform: { '^.+\\.ts$': swc }, moduleNameMapper, testEnvironment: 'node' },
    { displayName: 'integration', rootDir: __dirname, testMatch: ['<rootDir>/test/**/*.test.ts'], transform: { '^.+\\.ts$': swc }, moduleNameMapper, testEnvironment: 'node', testTimeout: 60000 },
  ],
};
