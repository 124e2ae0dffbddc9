import { SerialPerKey } from './serial-per-key';

/** A gate the test opens: work that waits on it runs until the test says so. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('SerialPerKey: one task at a time per key, keys independent', () => {
  it('given a running task of a key, when another is asked for the same key, then it starts only after the first ends', async () => {
    const serial = new SerialPerKey();
    const order: string[] = [];
    const first = gate();
    const a = serial.run('vm-1', async () => {
      order.push('a starts');
      await first.opened;
      order.push('a ends');
    });
    const b = serial.run('vm-1', async () => void order.push('b runs'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['a starts']);
    first.open();
    await Promise.all([a, b]);
    expect(order).toEqual(['a starts', 'a ends', 'b runs']);
  });

  it('given a running task of one key, when a task of another key is asked for, then it runs meanwhile', async () => {
    const serial = new SerialPerKey();
    const held = gate();
    const a = serial.run('vm-1', () => held.opened);
    await expect(serial.run('vm-2', async () => 'other key')).resolves.toBe('other key');
    held.open();
    await a;
  });

  it('given a task that fails, then its caller sees the failure and the next task of the key still runs', async () => {
    const serial = new SerialPerKey();
    const failed = serial.run('vm-1', async () => {
      throw new Error('agent gone');
    });
    const next = serial.run('vm-1', async () => 'ran');
    await expect(failed).rejects.toThrow('agent gone');
    await expect(next).resolves.toBe('ran');
  });

  it('given tasks of several keys running, when settled is awaited, then it resolves once every one has ended, a failed one too', async () => {
    const serial = new SerialPerKey();
    const held = gate();
    const ended: string[] = [];
    void serial.run('vm-1', async () => {
      await held.opened;
      ended.push('vm-1');
    });
    serial
      .run('vm-2', async () => {
        await held.opened;
        ended.push('vm-2');
        throw new Error('failed');
      })
      .catch(() => undefined);
    let settled = false;
    const waiting = serial.settled().then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    held.open();
    await waiting;
    expect(ended.sort()).toEqual(['vm-1', 'vm-2']);
    await expect(serial.settled()).resolves.toBeUndefined();
  });
});
