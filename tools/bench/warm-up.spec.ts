import type { MoveTrack } from '@locus/domain';
import { warmUpOf } from './run';

const move = (relocatedAt: number, ms: number): MoveTrack =>
  ({ moveId: `m${relocatedAt}`, vm: 'web-01', mode: 'cold', state: 'completed', planes: [], firstSeenAt: 0, timeline: [], relocatedAt, tracker: { ms, planes: {} } }) as unknown as MoveTrack;

describe('warmUpOf: the moves of the window’s first seconds apart from the rest', () => {
  it('given moves committed over 8 s, when the first 5 s are set apart, then each part has its own figures', () => {
    const moves = [move(1_000, 90), move(3_000, 70), move(5_999, 50), move(6_000, 20), move(9_000, 10), { ...move(9_500, 0), tracker: undefined } as MoveTrack];
    const { warmUp } = warmUpOf(moves, 5);
    expect(warmUp?.first).toMatchObject({ count: 3, max: 90 });
    expect(warmUp?.after).toMatchObject({ count: 2, max: 20 });
  });

  it('given every move in the first seconds, then there is no figure (nothing to compare with)', () => {
    expect(warmUpOf([move(1_000, 10), move(2_000, 20)], 5)).toEqual({});
  });
});
