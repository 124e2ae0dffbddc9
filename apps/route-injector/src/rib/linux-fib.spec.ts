import { bestPaths } from './linux-fib';

describe('bestPaths: what the kernel is given from the core RIB', () => {
  it('given two paths of a /32 during make-before-break, then the best one (flag, else the higher LOCAL_PREF) is installed', () => {
    const old = { prefix: '10.11.0.20/32', nextHop: '198.51.100.11', localPref: 101 };
    const fresh = { prefix: '10.11.0.20/32', nextHop: '198.51.100.21', localPref: 102 };
    expect(bestPaths([old, fresh]).get('10.11.0.20/32')).toBe('198.51.100.21');
    expect(bestPaths([{ ...old, best: true }, fresh]).get('10.11.0.20/32')).toBe('198.51.100.11');
  });

  it('given the old path withdrawn, then only the new next hop remains; a prefix no path carries is absent', () => {
    const best = bestPaths([{ prefix: '10.1.0.10/32', nextHop: '198.51.100.12', localPref: 103 }]);
    expect([...best]).toEqual([['10.1.0.10/32', '198.51.100.12']]);
  });
});
