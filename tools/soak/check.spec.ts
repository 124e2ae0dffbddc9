import { buildSoakReport, renderSoakTable, type SoakFacts, type StoredEvent } from './check';

let n = 0;
const ev = (type: string, data: object, atMs: number, id = `e${n++}`): StoredEvent => ({ id, type, data, atMs });
const facts = (over: Partial<SoakFacts>): SoakFacts => ({
  seed: 1,
  durationS: 10,
  timeScale: 50,
  hostTimeoutRealMs: 4000,
  heartbeatRealMs: 400,
  lastFaultEndMs: 5000,
  sent: [],
  faults: [],
  events: [],
  inventories: new Map([
    ['hv1', ['a']],
    ['hv2', ['b']],
  ]),
  drift: { ok: true, disagreements: [] },
  ...over,
});

describe('soak checker', () => {
  it('a clean run passes, and the time to terminal counts only moves still open when the last fault ended', () => {
    const r = buildSoakReport(
      facts({
        sent: [
          { requestId: 'r1', vm: 'a', moveId: 'm1' },
          { requestId: 'r2', vm: 'b', moveId: 'm2' },
          { requestId: 'r3', vm: 'a', refused: 'VM_BUSY' },
        ],
        events: [
          ev('MoveAccepted', { moveId: 'm1', vm: 'a', cause: 'operator' }, 1000),
          ev('MoveCompleted', { moveId: 'm1' }, 2000),
          ev('MoveConvergenceLate', { moveId: 'm1', stale: ['itr dc3'] }, 2500),
          ev('MoveAccepted', { moveId: 'm2', vm: 'b', cause: 'operator' }, 4000),
          ev('MoveCompleted', { moveId: 'm2' }, 7000),
          ev('MoveConverged', { moveId: 'm2' }, 7500),
        ],
      }),
    );
    expect(r).toMatchObject({ ok: true, movesSent: 3, refused: 1, accepted: 2, lost: 0, duplicated: 0, notTerminal: 0, late: 1, unsettled: 0, terminal: { completed: 1, converged: 1 } });
    expect(r.afterLastFault).toEqual({ moves: 1, p50S: 2, p99S: 2, maxS: 2 });
    expect(renderSoakTable(r)).toMatch(/result\s+PASS/);
  });

  it('lost, duplicated, open, double-located, drifting and spurious HA each fail the run', () => {
    const r = buildSoakReport(
      facts({
        sent: [{ requestId: 'r1', vm: 'a', moveId: 'gone' }],
        events: [
          ev('MoveAccepted', { moveId: 'm1', vm: 'a' }, 1000),
          ev('MoveCompleted', { moveId: 'm1' }, 2000),
          ev('MoveCompleted', { moveId: 'm1' }, 2100),
          ev('MoveAccepted', { moveId: 'm3', vm: 'b' }, 3000, 'same'),
          ev('MoveStarted', { moveId: 'm3' }, 3000, 'same'),
          ev('HostDeclaredFailed', { hypervisor: 'hv2', silentMs: 1, vms: ['b'] }, 3500),
          ev('HostDeclaredFailed', { hypervisor: 'hv1', silentMs: 1, vms: ['a'] }, 3600),
        ],
        // hv1 was stopped longer than the failure timeout: its failover is earned; hv2's is not.
        faults: [
          { kind: 'stop', target: 'hv1', startMs: 0, endMs: 4500 },
          { kind: 'stop', target: 'hv2', startMs: 0, endMs: 1000 },
        ],
        inventories: new Map([
          ['hv1', ['a', 'b']],
          ['hv2', ['b']],
        ]),
        drift: {
          ok: true,
          disagreements: [
            { plane: 'hypervisors', vm: 'b' },
            { plane: 'mapping', component: 'map-server', detail: 'not answering: 503' },
          ],
        },
      }),
    );
    // The mapping plane's disagreement counts too: the soak runs every plane.
    expect(r).toMatchObject({ ok: false, lost: 1, duplicated: 2, notTerminal: 1, doubleLocated: 1, drift: 2, spuriousHa: 1 });
    expect(renderSoakTable(r)).toMatch(/result\s+FAIL/);
  });

  it('a completed move with no convergence verdict (neither converged nor late) fails the run; a late one that converged after is not late', () => {
    const r = buildSoakReport(
      facts({
        events: [
          ev('MoveAccepted', { moveId: 'm1', vm: 'a' }, 1000),
          ev('MoveCompleted', { moveId: 'm1' }, 2000),
          ev('MoveAccepted', { moveId: 'm2', vm: 'b' }, 1000),
          ev('MoveCompleted', { moveId: 'm2' }, 2000),
          ev('MoveConvergenceLate', { moveId: 'm2', stale: ['routes dc1'] }, 3000),
          ev('MoveConverged', { moveId: 'm2' }, 3500),
        ],
      }),
    );
    expect(r).toMatchObject({ ok: false, unsettled: 1, late: 0, notTerminal: 0 });
    expect(r.details.join('\n')).toMatch(/unsettled: move m1/);
  });

  it('a completed move with no verdict whose VM was relocated again later is superseded: counted, not a failure', () => {
    const r = buildSoakReport(
      facts({
        events: [
          ev('MoveAccepted', { moveId: 'm1', vm: 'a' }, 1000),
          ev('VmRelocated', { moveId: 'm1', vm: 'a', locationVersion: 2 }, 1100),
          ev('MoveCompleted', { moveId: 'm1' }, 1200),
          ev('MoveAccepted', { moveId: 'm2', vm: 'a' }, 1300),
          ev('VmRelocated', { moveId: 'm2', vm: 'a', locationVersion: 3 }, 1400),
          ev('MoveCompleted', { moveId: 'm2' }, 1500),
          ev('MoveConverged', { moveId: 'm2' }, 1600),
        ],
      }),
    );
    expect(r).toMatchObject({ ok: true, superseded: 1, unsettled: 0 });
  });

  it('a failover is earned only by a kill or stop of that host near the timeout that overlaps the silence the manager measured', () => {
    // hv1 stopped 3.4 s (timeout 4 s): its silence, 4.25 s, took a heartbeat and a slow resume on top: earned.
    // hv2 declared failed 20 s after its only stop ended: spurious.
    const r = buildSoakReport(
      facts({
        events: [ev('HostDeclaredFailed', { hypervisor: 'hv1', silentMs: 212_350, vms: [] }, 4500), ev('HostDeclaredFailed', { hypervisor: 'hv2', silentMs: 210_000, vms: [] }, 30_000)],
        faults: [
          { kind: 'stop', target: 'hv1', startMs: 600, endMs: 4000 },
          { kind: 'stop', target: 'hv2', startMs: 5000, endMs: 9800 },
        ],
      }),
    );
    expect(r).toMatchObject({ ok: false, spuriousHa: 1 });
    expect(r.details.join('\n')).toMatch(/spurious HA: hv2 declared failed at \+30\.0 s/);
  });

  it('an agent or a drift check that does not answer fails the run', () => {
    const r = buildSoakReport(facts({ inventories: new Map([['hv1', undefined]]), drift: { ok: false, error: { code: 'UNAVAILABLE' } } }));
    expect(r).toMatchObject({ ok: false, agentsUnanswered: 1, drift: 'no answer' });
  });
});
