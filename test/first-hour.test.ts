import { startTestLab, type TestLab } from './support/harness';

/**
 * What a newcomer tries in the first hour, with the ids the tools print: the 8-character move id
 * works in move.get and move.cancel, and move.plan says a moving VM is moving (as vm.move would).
 * The agents are stopped first, so a move stays in progress (its stop step unanswered, well
 * within the give-up time) for as long as the test asks about it, then it is cancelled.
 */
describe('first hour: short move ids, plan while moving', () => {
  let lab: TestLab;
  beforeAll(async () => {
    lab = await startTestLab({ agentGiveUpMs: 120_000 });
    await lab.agents.stop();
  });
  afterAll(async () => {
    await lab.stop();
  });

  it('move.plan answers MOVE_IN_PROGRESS while the VM moves; move.get and move.cancel take the short id', async () => {
    const accepted = await lab.req('vm.move', { vm: 'web-02', to: 'dc2-hv2', mode: 'cold' });
    expect(accepted.ok).toBe(true);
    await lab.waitForMove(accepted.moveId, ['in-progress']);
    const short = accepted.moveId.slice(0, 8);

    const plan = await lab.req('move.plan', { vm: 'web-02', to: 'dc2-hv1', mode: 'cold' });
    expect(plan).toMatchObject({ ok: true, allowed: false, refusal: { code: 'MOVE_IN_PROGRESS', message: expect.stringContaining(accepted.moveId) } });

    const got = await lab.req('move.get', { moveId: short });
    expect(got).toMatchObject({ ok: true, move: { moveId: accepted.moveId, vm: 'web-02' } });
    const cancelled = await lab.req('move.cancel', { moveId: short });
    expect(cancelled).toMatchObject({ ok: true, moveId: accepted.moveId, state: 'cancelled' });
    await lab.waitForMove(accepted.moveId, ['cancelled']);
  });

  it('a short id that names no move, or is not an id, is answered in words', async () => {
    expect(await lab.req('move.get', { moveId: '00000000' })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_MOVE', message: 'no move whose id starts with 00000000' } });
    expect(await lab.req('move.get', { moveId: 'web-01' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/moveId.*first 8 characters/) } });
  });
});
