import { labEnvOf } from './options';

describe('BENCH_LAB_ENV', () => {
  it('given space-separated NAME=value pairs, then each is the services’ environment (a value may hold "=")', () => {
    expect(labEnvOf('LOCUS_DRIFT_INTERVAL_MS=0  LOG_FORMAT=json X_Y=a=b')).toEqual({ LOCUS_DRIFT_INTERVAL_MS: '0', LOG_FORMAT: 'json', X_Y: 'a=b' });
    expect(labEnvOf('')).toEqual({});
  });

  it('given a pair that is not NAME=value, then it is refused, naming it', () => {
    expect(() => labEnvOf('LOCUS_HA')).toThrow('BENCH_LAB_ENV: "LOCUS_HA" is not NAME=value');
    expect(() => labEnvOf('=1')).toThrow('"=1" is not NAME=value');
    expect(() => labEnvOf('9X=1')).toThrow('"9X=1" is not NAME=value');
  });
});
