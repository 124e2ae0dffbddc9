import { SiteOriginators } from './originators';

describe('SiteOriginators', () => {
  it('given advertisements at two sites, when one withdraws, then only the other originates the prefix', () => {
    const o = new SiteOriginators();
    o.add('10.1.0.10/32', 'dc1');
    o.add('10.1.0.10/32', 'dc2');
    expect([...o.of('10.1.0.10/32')].sort()).toEqual(['dc1', 'dc2']);
    o.remove('10.1.0.10/32', 'dc1');
    expect(o.of('10.1.0.10/32')).toEqual(['dc2']);
    o.remove('10.1.0.10/32', 'dc2');
    expect(o.of('10.1.0.10/32')).toEqual([]);
  });

  it('given a site that recorded prefixes, when its table is reset from a listing, then it originates exactly the listed ones and other sites keep theirs', () => {
    const o = new SiteOriginators();
    o.add('10.1.0.10/32', 'dc1');
    o.add('10.1.0.11/32', 'dc1');
    o.add('10.1.0.11/32', 'dc2');
    o.reset('dc1', ['10.1.0.12/32']);
    expect(o.of('10.1.0.10/32')).toEqual([]);
    expect(o.of('10.1.0.11/32')).toEqual(['dc2']);
    expect(o.of('10.1.0.12/32')).toEqual(['dc1']);
  });

  it('given nothing recorded, then no site originates a prefix and a withdrawal changes nothing', () => {
    const o = new SiteOriginators();
    o.remove('10.9.9.9/32', 'dc1');
    expect(o.of('10.9.9.9/32')).toEqual([]);
  });
});
