import { randomUUID } from 'node:crypto';
import type { LocationEvent, VmView } from '@locus/contracts';
import { feedDurableName, LocationFeed, LocationFeedHub, type LocationFollower } from '@locus/messaging';
import { capturingLogger, eventually, startTestLab, type TestLab } from './support/harness';
import { publishSyntheticVmEvent } from './support/planes';

/** A follower that records what it got and keeps, per VM, the newest location version (a version guard, as every real follower has). */
function recorder(name: string, failOnce?: (e: LocationEvent) => boolean) {
  const got: { vm: string; type: string; id: string; version: number }[] = [];
  const newest = new Map<string, number>();
  const snapshot: string[] = [];
  let failed = false;
  const follower: LocationFollower = {
    name,
    loadSnapshot: (vms: readonly VmView[]) => void snapshot.push(...vms.map((v) => v.name)),
    handle: (e) => {
      const version = 'locationVersion' in e.data ? e.data.locationVersion : 0;
      const vm = e.streamId.slice(3);
      got.push({ vm, type: e.type, id: e.id, version });
      if (failOnce && !failed && failOnce(e)) {
        failed = true;
        throw new Error('follower failed once');
      }
      if (version > (newest.get(vm) ?? 0)) newest.set(vm, version);
    },
  };
  return { follower, got, newest, snapshot };
}

const loc = (site: string) => ({ site, hypervisor: `${site}-hv9` });
const placed = (vm: string, n: number) => ({
  vm,
  ip: `10.99.0.${n}`,
  mac: `52:54:00:99:00:${String(n).padStart(2, '0')}`,
  l2Domain: 'web-stretched',
  site: 'dc1',
  hypervisor: 'nowhere',
  memoryMb: 1024,
  locationVersion: 1,
});
const relocated = (vm: string, n: number, version: number) => ({
  moveId: randomUUID(),
  vm,
  ip: `10.99.0.${n}`,
  mac: `52:54:00:99:00:${String(n).padStart(2, '0')}`,
  from: loc('dc1'),
  to: loc('dc2'),
  locationVersion: version,
  mode: 'cold',
});

/**
 * One location feed per process against real NATS: every follower gets every location event of the
 * stream from the point noted before its snapshot, per VM in stream order; a follower that throws
 * gets the event again, and its version guard keeps it at the newest location.
 */
describe('location feed: one consumer per process, every follower, order per VM, redelivery', () => {
  let lab: TestLab;
  let feed: LocationFeed | undefined;
  beforeAll(async () => {
    lab = await startTestLab();
  });
  afterAll(async () => {
    await feed?.stop();
    await lab.stop();
  });

  it('loads the snapshot, skips what was stored before it, and hands each later event to every follower in order per VM', async () => {
    const p = lab.config.subjectPrefix;
    const before = await publishSyntheticVmEvent(lab.client, p, 'feed-old', 'VmPlaced', placed('feed-old', 9));
    const a = recorder('a');
    const b = recorder('b', (e) => e.type === 'VmRelocated' && e.streamId === 'vm:feed-one' && e.data.locationVersion === 2);
    const { logger } = capturingLogger();
    const nc = lab.client;
    feed = new LocationFeed({ nc, js: nc.jetstream(), jsm: await nc.jetstreamManager(), prefix: p, stream: lab.config.streamName, logger }, { durable: feedDurableName('test-feed', ['a', 'b']) });
    feed.follow(a.follower);
    feed.follow(b.follower);
    await feed.start();
    // The snapshot is the location DB's (the lab's VMs), given to both followers before any event.
    expect(a.snapshot).toContain('web-01');
    expect(b.snapshot).toEqual(a.snapshot);

    const ids = [
      await publishSyntheticVmEvent(nc, p, 'feed-one', 'VmPlaced', placed('feed-one', 1)),
      await publishSyntheticVmEvent(nc, p, 'feed-two', 'VmPlaced', placed('feed-two', 2)),
      await publishSyntheticVmEvent(nc, p, 'feed-one', 'VmRelocated', relocated('feed-one', 1, 2)),
      await publishSyntheticVmEvent(nc, p, 'feed-two', 'VmRelocated', relocated('feed-two', 2, 2)),
      await publishSyntheticVmEvent(nc, p, 'feed-one', 'VmRelocated', relocated('feed-one', 1, 3)),
      // Not a location event: on the step subject, the feed never sees it.
      await publishSyntheticVmEvent(nc, p, 'feed-one', 'MoveStarted', { moveId: randomUUID(), hypervisor: 'dc1-hv1' }),
    ];
    const distinct = (r: ReturnType<typeof recorder>) => new Set(r.got.map((g) => g.id));
    await eventually(async () => distinct(a).size === 5 && distinct(b).size === 5, 15_000, 'both followers to get the five location events');
    // b threw once: the event came again, to every follower (handlers are idempotent), and b ends at the newest version.
    await eventually(async () => b.newest.get('feed-one') === 3 && b.got.filter((g) => g.id === ids[2]).length === 2, 15_000, 'the failed event again');

    for (const r of [a, b]) {
      expect([...distinct(r)].sort()).toEqual(ids.slice(0, 5).sort());
      expect(r.got.some((g) => g.id === before)).toBe(false); // stored before the snapshot point
      expect(r.newest.get('feed-one')).toBe(3);
      expect(r.newest.get('feed-two')).toBe(2);
    }
    // Without a failure, a follower sees one VM's events in stream order.
    const firstSeen = (vm: string) => [...new Map(a.got.filter((g) => g.vm === vm).map((g) => [g.id, g.version])).values()];
    expect(firstSeen('feed-one')).toEqual([1, 2, 3]);
    expect(firstSeen('feed-two')).toEqual([1, 2]);
    expect(feed.stats.undecodable).toBe(0);
  });

  it('two feeds of one process starting together share one snapshot, and each consumes from the point noted before it', async () => {
    const p = lab.config.subjectPrefix;
    const nc = lab.client;
    const { logger, lines } = capturingLogger();
    const deps = { nc, js: nc.jetstream(), jsm: await nc.jetstreamManager(), prefix: p, stream: lab.config.streamName, logger };
    const x = recorder('x');
    const y = recorder('y');
    const feedX = new LocationFeed(deps, { durable: feedDurableName('test-shared', ['x']) });
    const feedY = new LocationFeed(deps, { durable: feedDurableName('test-shared', ['y']) });
    feedX.follow(x.follower);
    feedY.follow(y.follower);
    try {
      await Promise.all([feedX.start(), feedY.start()]);
      expect(lines().filter((l) => l.msg === 'location snapshot loaded')).toHaveLength(1);
      expect(x.snapshot).toContain('web-01');
      expect(y.snapshot).toEqual(x.snapshot);
      // An event stored after the shared snapshot reaches both feeds.
      const after = await publishSyntheticVmEvent(nc, p, 'feed-shared', 'VmPlaced', placed('feed-shared', 7));
      await eventually(async () => x.got.some((g) => g.id === after) && y.got.some((g) => g.id === after), 15_000, 'both feeds to get the event after the snapshot');
      // A feed started later fetches a snapshot of its own.
      const z = recorder('z');
      const feedZ = new LocationFeed(deps, { durable: feedDurableName('test-shared', ['z']) });
      feedZ.follow(z.follower);
      await feedZ.start();
      await feedZ.stop();
      expect(lines().filter((l) => l.msg === 'location snapshot loaded')).toHaveLength(2);
      expect(z.snapshot).toEqual(x.snapshot);
    } finally {
      await feedX.stop();
      await feedY.stop();
    }
  });

  it('a feed of a hub that keeps failing on an event holds up no other: they get it, and what comes after', async () => {
    const p = lab.config.subjectPrefix;
    const nc = lab.client;
    const { logger } = capturingLogger();
    const hub = new LocationFeedHub();
    const deps = { nc, js: nc.jetstream(), jsm: await nc.jetstreamManager(), prefix: p, stream: lab.config.streamName, logger, locationHub: hub };
    // The failing feed joins first: the hub once handed an event to its feeds one after another.
    const stuck = recorder('stuck');
    let failures = 0;
    const always: LocationFollower = {
      ...stuck.follower,
      handle: (e) => {
        stuck.follower.handle(e);
        if (e.streamId === 'vm:hub-stuck') {
          failures++;
          throw new Error('this plane keeps failing on hub-stuck');
        }
      },
    };
    const fine = recorder('fine');
    const feedStuck = new LocationFeed(deps, { durable: feedDurableName('test-hub-stuck', ['stuck']) });
    const feedFine = new LocationFeed(deps, { durable: feedDurableName('test-hub-stuck', ['fine']) });
    feedStuck.follow(always);
    feedFine.follow(fine.follower);
    try {
      await feedStuck.start();
      await feedFine.start();
      await hub.start();
      const blocked = await publishSyntheticVmEvent(nc, p, 'hub-stuck', 'VmPlaced', placed('hub-stuck', 21));
      const later = await publishSyntheticVmEvent(nc, p, 'hub-later', 'VmPlaced', placed('hub-later', 22));
      await eventually(async () => fine.got.some((g) => g.id === blocked) && fine.got.some((g) => g.id === later), 15_000, 'the other feed to get both events');
      expect(failures).toBeGreaterThanOrEqual(1);
      expect(stuck.got.some((g) => g.id === later)).toBe(true);
    } finally {
      await hub.stop();
      await feedFine.stop();
      await feedStuck.stop();
      // its durable goes, so that the next test counts its own hub's consumer only
      await deps.jsm.consumers.delete(lab.config.streamName, feedDurableName('locations', [feedStuck.durable, feedFine.durable]));
    }
  });

  it('feeds joined to a hub share one consumer: each gets every event from its own point, per VM in order, and a failure redelivers to all', async () => {
    const p = lab.config.subjectPrefix;
    const nc = lab.client;
    const jsm = await nc.jetstreamManager();
    const { logger, lines } = capturingLogger();
    const hub = new LocationFeedHub();
    const deps = { nc, js: nc.jetstream(), jsm, prefix: p, stream: lab.config.streamName, logger, locationHub: hub };
    const m = recorder('m');
    const n = recorder('n', (e) => e.type === 'VmRelocated' && e.streamId === 'vm:hub-one' && e.data.locationVersion === 2);
    const feedM = new LocationFeed(deps, { durable: feedDurableName('test-hub', ['m']) });
    const feedN = new LocationFeed(deps, { durable: feedDurableName('test-hub', ['n']) });
    feedM.follow(m.follower);
    feedN.follow(n.follower);
    const consumers = async () => (await jsm.consumers.list(lab.config.streamName).next()).map((c) => c.name);
    let late: LocationFeed | undefined;
    try {
      await Promise.all([feedM.start(), feedN.start()]);
      // Joined, not consuming: an event stored now waits for the hub, it is not lost.
      const early = await publishSyntheticVmEvent(nc, p, 'hub-one', 'VmPlaced', placed('hub-one', 11));
      expect(await consumers()).not.toContain(feedM.durable);
      await hub.start();
      const ids = [
        early,
        await publishSyntheticVmEvent(nc, p, 'hub-one', 'VmRelocated', relocated('hub-one', 11, 2)),
        await publishSyntheticVmEvent(nc, p, 'hub-two', 'VmPlaced', placed('hub-two', 12)),
        await publishSyntheticVmEvent(nc, p, 'hub-one', 'VmRelocated', relocated('hub-one', 11, 3)),
      ];
      const distinct = (r: ReturnType<typeof recorder>) => new Set(r.got.map((g) => g.id));
      await eventually(async () => ids.every((id) => distinct(m).has(id) && distinct(n).has(id)), 15_000, 'both feeds to get the four events through the hub');
      // n threw once: the event came again to both feeds (one message, one redelivery), and n ends at the newest version.
      await eventually(async () => n.got.filter((g) => g.id === ids[1]).length === 2 && m.got.filter((g) => g.id === ids[1]).length === 2, 15_000, 'the failed event again, to both');
      const firstSeen = (r: ReturnType<typeof recorder>, vm: string) => [...new Map(r.got.filter((g) => g.vm === vm).map((g) => [g.id, g.version])).values()];
      for (const r of [m, n]) {
        expect(firstSeen(r, 'hub-one')).toEqual([1, 2, 3]);
        expect(r.newest.get('hub-one')).toBe(3);
      }
      // One consumer for the two feeds: neither has its own durable.
      const names = await consumers();
      expect(names.filter((c) => c.startsWith('locations-'))).toHaveLength(1);
      expect(names).not.toContain(feedM.durable);
      expect(names).not.toContain(feedN.durable);
      expect(lines().some((l) => l.msg === 'following the location events for 2 feeds with one consumer')).toBe(true);
      expect(feedM.stats.delivered).toBeGreaterThanOrEqual(4);
      // The hub's drops are the first feed's to report, once (the metrics add up what each feed reports).
      expect(feedM.drops()).toMatchObject({ durable: expect.stringMatching(/^locations-/) });
      expect(feedN.drops()).toBeUndefined();
      // A feed that starts after the hub consumes on its own.
      const o = recorder('o');
      late = new LocationFeed(deps, { durable: feedDurableName('test-hub', ['o']) });
      late.follow(o.follower);
      await late.start();
      expect(await consumers()).toContain(late.durable);
    } finally {
      await late?.stop();
      await feedM.stop();
      await feedN.stop();
    }
  });

  it('a hub told how many feeds will join starts with the last of them: a feed still starting holds up no other, and gets the events once it is ready', async () => {
    const p = lab.config.subjectPrefix;
    const nc = lab.client;
    const hub = new LocationFeedHub({ feeds: 2 });
    const deps = { nc, js: nc.jetstream(), jsm: await nc.jetstreamManager(), prefix: p, stream: lab.config.streamName, logger: capturingLogger().logger, locationHub: hub };
    const slow = recorder('slow');
    const quick = recorder('quick');
    const feedSlow = new LocationFeed(deps, { durable: feedDurableName('test-hub-gate', ['slow']) });
    const feedQuick = new LocationFeed(deps, { durable: feedDurableName('test-hub-gate', ['quick']) });
    feedSlow.follow(slow.follower);
    feedQuick.follow(quick.follower);
    // The slow feed's service is still starting after its snapshot (a BGP fabric that has not peered yet).
    let ready!: () => void;
    const started = new Promise<void>((resolve) => (ready = resolve));
    let slowStarted = false;
    const slowStart = feedSlow.start(() => started).then(() => (slowStarted = true));
    try {
      await feedQuick.start();
      // nobody called hub.start(): the second feed to join started it
      const id = await publishSyntheticVmEvent(nc, p, 'hub-gate', 'VmPlaced', placed('hub-gate', 31));
      await eventually(async () => quick.got.some((g) => g.id === id), 15_000, 'the quick feed to get the event while the slow one starts');
      expect(slow.got).toEqual([]);
      expect(slowStarted).toBe(false);
      ready();
      await slowStart;
      await eventually(async () => slow.got.some((g) => g.id === id), 15_000, 'the slow feed to get it once ready');
      expect(slow.snapshot).toEqual(quick.snapshot);
    } finally {
      ready();
      await slowStart;
      await hub.stop();
      await feedQuick.stop();
      await feedSlow.stop();
      await deps.jsm.consumers.delete(lab.config.streamName, feedDurableName('locations', [feedSlow.durable, feedQuick.durable]));
    }
  });
});
