import { LoadDriver } from './load';

describe("the bench's observer: only the events its figures are made of", () => {
  const observed = LoadDriver.observedSubjects('locus');

  it('reads acceptance, start, commit, end and the tracker’s records of every VM, on their own subject classes', () => {
    expect(observed).toEqual(
      expect.arrayContaining([
        'locus.evt.vm.*.MoveAccepted',
        'locus.evt.vm.*.MoveStarted',
        'locus.evt.vm.*.loc.VmRelocated',
        'locus.evt.vm.*.MoveCompleted',
        'locus.evt.vm.*.loc.MoveFailed',
        'locus.evt.vm.*.loc.MoveCancelled',
        'locus.evt.vm.*.MoveConverged',
        'locus.evt.vm.*.MoveConvergenceLate',
      ]),
    );
  });

  it('reads every plane’s outcomes and leaves the steps in between (stop, transfer, start at the target) and the live steps on the server', () => {
    expect(observed).toEqual(expect.arrayContaining(['locus.evt.map.*.*', 'locus.evt.route.*.*', 'locus.evt.arp.*.*']));
    for (const left of ['VmStoppedAtSource', 'VmConfigTransferred', 'VmStartedAtTarget']) expect(observed.some((s) => s.endsWith(`.${left}`))).toBe(false);
    expect(observed.some((s) => s.includes('.live.') || s.endsWith('.>'))).toBe(false);
  });
});
