import { HostAdmissions } from './host-admissions';

describe('HostAdmissions', () => {
  const clock = { ms: 0 };
  const admissions = () => new HostAdmissions(() => clock.ms);

  beforeEach(() => {
    clock.ms = 0;
  });

  it('given no admission of a host yet, then a read begun at any time saw every start', () => {
    expect(admissions().quietSince('dc1-hv1', 0)).toBe(true);
  });

  it('given an admission that ended after a read began, then that read may have missed its start', async () => {
    const a = admissions();
    clock.ms = 10; // the read begins
    clock.ms = 20;
    await a.run('dc1-hv1', async () => undefined); // ends at 20
    expect(a.quietSince('dc1-hv1', 10)).toBe(false);
    expect(a.quietSince('dc1-hv1', 21)).toBe(true);
    expect(a.quietSince('dc2-hv1', 10)).toBe(true);
  });

  it('given an admission that failed, then its end is noted all the same', async () => {
    const a = admissions();
    clock.ms = 30;
    await expect(
      a.run('dc1-hv1', async () => {
        throw new Error('commit refused');
      }),
    ).rejects.toThrow('commit refused');
    expect(a.quietSince('dc1-hv1', 30)).toBe(false);
  });

  it('given two admissions of one host, then the second starts after the first has ended', async () => {
    const a = admissions();
    const order: string[] = [];
    let release!: () => void;
    const firstRunning = new Promise<void>((running) => {
      void a.run('dc1-hv1', () => {
        running();
        return new Promise<void>((r) => (release = r)).then(() => void order.push('first ended'));
      });
    });
    const second = a.run('dc1-hv1', async () => void order.push('second ran'));
    await firstRunning;
    expect(order).toEqual([]);
    release();
    await second;
    expect(order).toEqual(['first ended', 'second ran']);
  });
  it('given an acceptance that starts nothing under way, then no read of its host is quiet until it ends, and one begun before its end is not quiet after', async () => {
    const a = admissions();
    let finish!: () => void;
    let began!: () => void;
    const running = new Promise<void>((r) => (began = r));
    clock.ms = 5; // a read of dc1-hv1 begins
    const accepting = a.track('dc1-hv1', () => {
      began();
      return new Promise<void>((r) => (finish = r));
    });
    await running;
    expect(a.quietSince('dc1-hv1', 5)).toBe(false); // it may commit a waiting move the read did not see
    expect(a.quietSince('dc2-hv1', 5)).toBe(true);
    clock.ms = 40;
    finish();
    await accepting;
    expect(a.quietSince('dc1-hv1', 5)).toBe(false);
    expect(a.quietSince('dc1-hv1', 41)).toBe(true);
  });

  it('given acceptances that start nothing, then they do not wait for each other nor for an admission of their host', async () => {
    const a = admissions();
    let release!: () => void;
    let admitting!: () => void;
    const admissionRunning = new Promise<void>((r) => (admitting = r));
    const admission = a.run('dc1-hv1', () => {
      admitting();
      return new Promise<void>((r) => (release = r));
    });
    await admissionRunning;
    await expect(Promise.all([a.track('dc1-hv1', async () => 'first'), a.track('dc1-hv1', async () => 'second')])).resolves.toEqual(['first', 'second']);
    release();
    await admission;
  });
});
