import { describe, expect, it } from 'vitest';
import { PropertyProtections } from '../../src/domain/property-protections.ts';

const FILE = `
# billing codes: admins write, members read
[^x_billing_.*]
create = admin
read = admin, member
update = admin
delete = admin

[^x_half_open$]
read = @

[^x_locked$]
create = !
read = @
update = !
delete = !

[^x_ops_]
create = Admin
read = admin
update = admin
delete = admin
`;

describe('property protections (Glance roles format)', () => {
  const rules = PropertyProtections.parse(FILE, 'test.conf');

  it('lets every role do everything when no file is configured', () => {
    const none = PropertyProtections.none();
    expect(none.enabled).toBe(false);
    expect(none.allows([], 'anything', 'delete')).toBe(true);
  });

  it('grants an operation only to the roles its section lists, case-insensitively', () => {
    expect(rules.allows(['member'], 'x_billing_code', 'read')).toBe(true);
    expect(rules.allows(['member'], 'x_billing_code', 'update')).toBe(false);
    expect(rules.allows(['reader', 'ADMIN'], 'x_billing_code', 'update')).toBe(true);
    expect(rules.allows(['admin'], 'x_ops_team', 'create')).toBe(true);
  });

  it('refuses names that no section matches, as Glance does', () => {
    expect(rules.allows(['admin'], 'os_distro', 'read')).toBe(false);
  });

  it('refuses operations a matching section leaves out', () => {
    expect(rules.allows(['admin'], 'x_half_open', 'read')).toBe(true);
    expect(rules.allows(['admin'], 'x_half_open', 'update')).toBe(false);
  });

  it('reads "!" as no one (admins included) and "@" as everyone', () => {
    expect(rules.allows(['admin'], 'x_locked', 'create')).toBe(false);
    expect(rules.allows([], 'x_locked', 'read')).toBe(true);
  });

  it('lets the first matching section decide', () => {
    const ordered = PropertyProtections.parse(
      '[^x_]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n',
      'ordered.conf',
    );
    expect(ordered.allows(['member'], 'x_anything', 'create')).toBe(false);
    expect(ordered.allows(['member'], 'y_anything', 'create')).toBe(true);
  });

  it('keeps what the caller cannot see when it changes what it can', () => {
    const stored = { x_billing_code: 'B1', x_ops_team: 'blue', x_half_open: 'v' };
    const before = rules.readable(['member'], stored);
    expect(before).toEqual({ x_billing_code: 'B1', x_half_open: 'v' });
    // Removing nothing and changing nothing is allowed even without update rights.
    expect(rules.changed(['member'], stored, before, { ...before })).toEqual(stored);
    expect(() => rules.changed(['member'], stored, before, { ...before, x_billing_code: 'B2' })).toThrow(
      /x_billing_code' is protected/,
    );
    expect(() => rules.changed(['member'], stored, before, { x_half_open: 'v' })).toThrow(/protected/);
    // A hidden property written to is a create, which members may not do here.
    expect(() => rules.changed(['member'], stored, before, { ...before, x_ops_team: 'red' })).toThrow(
      /x_ops_team/,
    );
    const asAdmin = rules.readable(['admin'], stored);
    expect(rules.changed(['admin'], stored, asAdmin, { x_half_open: 'v', x_ops_team: 'red' })).toEqual({
      x_half_open: 'v',
      x_ops_team: 'red',
    });
  });

  it('refuses a malformed file with every problem listed', () => {
    const bad = [
      'stray = line',
      '[(unclosed]',
      'create = @, !',
      '[^ok$]',
      'read = policy:glance_creator',
      'frobnicate = admin',
    ].join('\n');
    let message = '';
    try {
      PropertyProtections.parse(bad, '/etc/ims/protections.conf');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('/etc/ims/protections.conf is invalid');
    expect(message).toContain('line 1: expected');
    expect(message).toContain('[(unclosed] is not a regular expression');
    expect(message).toContain('create names both "@" and "!"');
    expect(message).toContain('only roles are supported');
    expect(message).toContain('unknown operation "frobnicate"');
  });
});
