import { FeedAudience, type FeedHandler } from './event-feed';

interface Ev {
  names: readonly string[] | 'everyone';
}

const handler = (name: string, member?: string): FeedHandler<Ev> => ({ name, ...(member !== undefined ? { member } : {}), handle: () => undefined });
const names = (hs: readonly FeedHandler<Ev>[]) => hs.map((h) => h.name);

describe('FeedAudience', () => {
  const shared = handler('shared');
  const dc1 = handler('site:dc1', 'dc1');
  const dc2 = handler('site:dc2', 'dc2');
  const dc3 = handler('site:dc3', 'dc3');
  const handlers = [shared, dc1, dc2, dc3];

  it('given an event naming two members, then the handlers without a member and those two get it, in the order they subscribed', () => {
    const audience = new FeedAudience(handlers, (e: Ev) => e.names);
    expect(names(audience.of({ names: ['dc3', 'dc1'] }))).toEqual(['shared', 'site:dc1', 'site:dc3']);
  });

  it('given an event naming no member of this process, then only the handlers without a member get it', () => {
    const audience = new FeedAudience(handlers, (e: Ev) => e.names);
    expect(names(audience.of({ names: ['dc9'] }))).toEqual(['shared']);
    expect(names(audience.of({ names: [] }))).toEqual(['shared']);
  });

  it('given a member named twice, then its handler is called once', () => {
    const audience = new FeedAudience(handlers, (e: Ev) => e.names);
    expect(names(audience.of({ names: ['dc2', 'dc2'] }))).toEqual(['shared', 'site:dc2']);
  });

  it('given "everyone" or no audience function, then every handler gets the event', () => {
    expect(names(new FeedAudience(handlers, (e: Ev) => e.names).of({ names: 'everyone' }))).toEqual(names(handlers));
    expect(names(new FeedAudience(handlers).of({ names: ['dc1'] }))).toEqual(names(handlers));
  });

  it('given two handlers serving one member, then both get its events', () => {
    const again = handler('other:dc1', 'dc1');
    const audience = new FeedAudience([dc1, dc2, again], (e: Ev) => e.names);
    expect(names(audience.of({ names: ['dc1'] }))).toEqual(['site:dc1', 'other:dc1']);
  });
});
