import { loadConfig } from './config';

describe('configuration: LOCUS_FULL_QUEUE_MEMORY_MS', () => {
  it('given nothing set, when loaded, then a full source queue is believed for 500 ms; 0 turns the memory off', () => {
    expect(loadConfig({}).fullQueueMemoryMs).toBe(500);
    expect(loadConfig({ LOCUS_FULL_QUEUE_MEMORY_MS: '0' }).fullQueueMemoryMs).toBe(0);
  });

  it('given a negative or non-numeric value, when loaded, then the configuration is refused naming the variable (nothing starts)', () => {
    expect(() => loadConfig({ LOCUS_FULL_QUEUE_MEMORY_MS: '-5' })).toThrow(/invalid configuration:[\s\S]*expected number to be >=0[\s\S]*LOCUS_FULL_QUEUE_MEMORY_MS/);
    expect(() => loadConfig({ LOCUS_FULL_QUEUE_MEMORY_MS: 'soon' })).toThrow(/invalid configuration:[\s\S]*LOCUS_FULL_QUEUE_MEMORY_MS/);
  });
});
