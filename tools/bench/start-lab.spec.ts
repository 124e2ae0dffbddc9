import { defaultHeapMiB, defaultYoungMiB } from './start-lab';

describe('the bench’s memory budget per service process', () => {
  it('given up to 32,000 VMs, then 64 MiB semi-spaces and a 384 MiB heap', () => {
    expect(defaultYoungMiB(1_000)).toBe(64);
    expect(defaultYoungMiB(32_000)).toBe(64);
    expect(defaultHeapMiB(32_000)).toBe(384);
  });

  it('given more, then Node’s own young generation (memory is the constraint) and 4 MiB more heap per 1,000 VMs', () => {
    expect(defaultYoungMiB(32_001)).toBe(0);
    expect(defaultYoungMiB(100_000)).toBe(0);
    expect(defaultHeapMiB(100_000)).toBe(384 + 68 * 4);
  });
});
