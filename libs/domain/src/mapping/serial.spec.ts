import { compareSerial, isNewerVersion, isSameVersion } from './serial';

describe('map versions compare with serial-number arithmetic (RFC 1982, 32 bits)', () => {
  it('given small versions, when compared, then the larger one is newer', () => {
    expect(compareSerial(2, 1)).toBe(1);
    expect(compareSerial(1, 2)).toBe(-1);
    expect(compareSerial(7, 7)).toBe(0);
  });

  it('given a version that wrapped around 2^32, when compared with one just before the wrap, then it is newer', () => {
    expect(compareSerial(3, 2 ** 32 - 2)).toBe(1);
    expect(compareSerial(2 ** 32 - 2, 3)).toBe(-1);
  });

  it('given two versions exactly 2^31 apart, when compared, then the order is undefined and neither is newer', () => {
    expect(compareSerial(2 ** 31 + 1, 1)).toBeUndefined();
    expect(isNewerVersion(2 ** 31 + 1, 1)).toBe(false);
    expect(isNewerVersion(1, 2 ** 31 + 1)).toBe(false);
  });

  it('given nothing held, when any version arrives, then it is newer; the same version is not', () => {
    expect(isNewerVersion(1, undefined)).toBe(true);
    expect(isNewerVersion(4, 4)).toBe(false);
    expect(isSameVersion(4, 4)).toBe(true);
    expect(isSameVersion(4, undefined)).toBe(false);
  });
});
