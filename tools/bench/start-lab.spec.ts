import { defaultSitesPerProcess } from './start-lab';

describe('sites per plane process', () => {
  it('all sites in one process per service when the manager pages vm.list', () => {
    expect(defaultSitesPerProcess(100_000, 10, true)).toBe(10);
    expect(defaultSitesPerProcess(10_000, 50, true)).toBe(50);
  });

  it('unpaginated snapshots: all on small labs, fewer sites per process on big ones', () => {
    expect(defaultSitesPerProcess(1000, 10, false)).toBe(10);
    expect(defaultSitesPerProcess(10_000, 50, false)).toBe(10);
    expect(defaultSitesPerProcess(100_000, 10, undefined)).toBe(1);
  });
});
