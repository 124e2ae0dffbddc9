import { ReplayWindow } from './replay-window';

describe('replay window', () => {
  it('given a fresh nonce and timestamp, when checked and remembered, then the same nonce again is a replay', () => {
    const w = new ReplayWindow(60_000);
    expect(w.check('dc1', 'n1', 1_000_000, 1_000_010)).toEqual({ ok: true });
    w.remember('dc1', 'n1', 1_000_010);
    expect(w.check('dc1', 'n1', 1_000_000, 1_000_020)).toEqual({ ok: false, reason: expect.stringMatching(/already used/) });
    expect(w.check('dc2', 'n1', 1_000_000, 1_000_020)).toEqual({ ok: true });
  });
  it('given a timestamp outside the window, when checked, then it is refused whatever the nonce', () => {
    const w = new ReplayWindow(60_000);
    expect(w.check('dc1', 'n2', 1_000_000, 1_060_001)).toMatchObject({ ok: false, reason: expect.stringMatching(/old/) });
    expect(w.check('dc1', 'n2', 1_200_000, 1_000_000)).toMatchObject({ ok: false, reason: expect.stringMatching(/future/) });
  });
  it('given a check that is refused, then nothing is remembered', () => {
    const w = new ReplayWindow(1000);
    w.check('dc1', 'n3', 0, 5000);
    expect(w.size).toBe(0);
  });
  it('given nonces older than twice the window, when time passes, then they are forgotten (their timestamps refuse them anyway)', () => {
    const w = new ReplayWindow(1000);
    w.remember('dc1', 'a', 0);
    w.remember('dc1', 'b', 1500);
    w.check('dc1', 'c', 2600, 2600);
    expect(w.size).toBe(1);
  });
});
