import { natsPermissions } from '@locus/contracts';
import { renderAuthConfig, RESPONSE_WINDOW } from './nats-auth';

describe('renderAuthConfig', () => {
  const permissions = natsPermissions('lx', 'LX');
  const text = renderAuthConfig(
    [
      { role: 'manager', nkey: 'UMANAGER', permissions: permissions.manager },
      { role: 'operator', nkey: 'UOPERATOR', permissions: permissions.operator },
      { role: 'admin', nkey: 'UADMIN', permissions: permissions.admin },
    ],
    'generated for a test\nsecond line',
  );

  it('comments the header and writes one nkey user per role with quoted allow lists', () => {
    expect(text.startsWith('# generated for a test\n# second line\nauthorization {\n  users = [\n')).toBe(true);
    expect(text).toContain('nkey: "UMANAGER"');
    // `$` unquoted would be a variable reference in nats-server's config language.
    expect(text).toContain('"$JS.API.STREAM.CREATE.LX"');
    expect(text).toContain(`publish: { allow: [${permissions.operator.publish.map((p) => JSON.stringify(p)).join(', ')}] }`);
    expect(text.trimEnd().endsWith(']\n}')).toBe(true);
  });

  it('lets a role answer requests only when it responds, and leaves the admin its plain allow-all', () => {
    const blocks = text.split('    # ').slice(1);
    const of = (role: string) => blocks.find((b) => b.startsWith(`${role}\n`))!;
    expect(of('manager')).toContain(`allow_responses: { max: 1, expires: "${RESPONSE_WINDOW}" }`);
    expect(of('operator')).not.toContain('allow_responses');
    expect(of('admin')).not.toContain('allow_responses');
    expect(of('admin')).toContain('publish: { allow: [">"] }');
  });
});
