import type { Clock, LabNeighbour } from '@locus/domain';
import { LabArpDriver } from './lab-arp-driver';

const VM_MAC = '02:00:00:00:00:01';
const NEW_MAC = '02:00:00:00:00:02';
const neighbours: LabNeighbour[] = ['n1', 'n2', 'n3'].map((name, i) => ({ name, ip: `10.0.0.${i + 2}`, mac: `02:aa:00:00:00:0${i}`, l2Domain: 'vlan10', site: 'dc1' }));

/** A lab driver on a clock the test moves, its neighbours having talked to one VM at 10.0.0.10. */
function given() {
  let now = 1_000_000;
  const clock: Clock = { now: () => now, sleep: async () => undefined };
  const driver = new LabArpDriver('dc1', neighbours, clock, () => 0.5);
  driver.setOnLink('vlan10', '10.0.0.10', VM_MAC);
  driver.talkTo('vlan10', '10.0.0.10');
  return { driver, advance: (ms: number) => (now += ms) };
}

describe('LabArpDriver timers', () => {
  it('given neighbours that learnt a VM, when it leaves the L2, then tick repairs nothing before their timers run out and every entry once they have', () => {
    const { driver, advance } = given();
    driver.setOnLink('vlan10', '10.0.0.10', null);
    driver.setOnLink('vlan10', '10.0.0.10', NEW_MAC); // the VM is back with another MAC: the old entries are wrong
    expect(driver.wrongEntries('10.0.0.10').map((w) => w.neighbour.name)).toEqual(['n1', 'n2', 'n3']);
    expect(driver.tick()).toEqual([]);
    const by = Math.max(...driver.wrongEntries('10.0.0.10').map((w) => w.expiresBy));
    advance(by - 1_000_000 + 1);
    const repairs = driver.tick();
    expect(repairs.map((r) => r.neighbour.name).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(repairs.every((r) => r.mac === NEW_MAC)).toBe(true);
    expect(driver.wrongEntries('10.0.0.10')).toEqual([]);
    // each repaired once: a later tick finds nothing more to repair
    advance(60_000);
    expect(driver.tick()).toEqual([]);
  });

  it('given a gratuitous ARP that repaired the entries, when their old timers come up, then tick repairs nothing again', () => {
    const { driver, advance } = given();
    driver.setOnLink('vlan10', '10.0.0.10', NEW_MAC);
    return driver.gratuitousArp('vlan10', '10.0.0.10', NEW_MAC).then((updated) => {
      expect(updated.sort()).toEqual(['n1', 'n2', 'n3']);
      advance(120_000);
      expect(driver.tick()).toEqual([]);
      expect(driver.wrongEntries()).toEqual([]);
    });
  });
});
