import { embeddedNatsGomaxprocs } from './embedded-nats';

describe("the lab's embedded nats-server: its Go threads", () => {
  it('given a machine of two cores or fewer and no GOMAXPROCS, then one', () => {
    expect(embeddedNatsGomaxprocs({}, 2)).toBe('1');
    expect(embeddedNatsGomaxprocs({}, 1)).toBe('1');
  });

  it('given more cores, then Go chooses (nothing set)', () => {
    expect(embeddedNatsGomaxprocs({}, 4)).toBeUndefined();
  });

  it('given GOMAXPROCS in the environment, then that, whatever the cores', () => {
    expect(embeddedNatsGomaxprocs({ GOMAXPROCS: '2' }, 2)).toBe('2');
    expect(embeddedNatsGomaxprocs({ GOMAXPROCS: '3' }, 8)).toBe('3');
  });
});
