import pino from 'pino';
import { startServiceObservability } from './service';

describe("a service's observability", () => {
  it('keeps metrics but serves nothing when LOCUS_METRICS_PORT is 0', async () => {
    const o = await startServiceObservability({ metricsPort: 0 }, pino({ level: 'silent' }));
    expect(o.server).toBeUndefined();
    const stop = jest.fn();
    o.ready({ checks: [{ name: 'nats', check: () => undefined }], stop });
    expect(await o.metrics.text()).toContain('process_cpu_seconds_total');
    await o.stop();
    expect(stop).toHaveBeenCalledTimes(1);
  });
});
