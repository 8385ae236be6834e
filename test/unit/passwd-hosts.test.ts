import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalAddress } from '../../src/collect/parse/address.js';
import { parseHostsFile } from '../../src/collect/parse/hosts.js';
import { parseAccountFile } from '../../src/collect/parse/passwd.js';

describe('parseAccountFile (passwd and group)', () => {
  const passwd = [
    '# /etc/passwd: comment line',
    'root:x:0:0:root:/root:/bin/bash',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    '',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
    'toor:x:0:0:second name for uid 0:/root:/bin/sh',
    'broken-line-without-colons',
    'noid:x::100:no uid:/:/bin/false',
    'word:x:abc:100::/:/bin/false',
    ':x:77:77:no name:/:/bin/false',
    'short:x',
    'frac:x:1.5:1::/:/bin/false',
    '+@netgroup::::::',
    'alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash',
    'bob:x:1001:1001::/home/bob:/bin/bash', // no final newline below
  ].join('\n');

  it('maps ids to names from well-formed lines', () => {
    const names = parseAccountFile(passwd);
    expect(names.get(0)).toBe('root');
    expect(names.get(1)).toBe('daemon');
    expect(names.get(65534)).toBe('nobody');
    expect(names.get(1000)).toBe('alice');
    expect(names.get(1001)).toBe('bob');
  });

  it('keeps the first name of an id', () => {
    expect(parseAccountFile(passwd).get(0)).toBe('root');
  });

  it('skips comments, blank lines and malformed lines', () => {
    const names = parseAccountFile(passwd);
    expect([...names.keys()].sort((a, b) => a - b)).toEqual([0, 1, 1000, 1001, 65534]);
    expect([...names.values()]).not.toContain('noid');
    expect([...names.values()]).not.toContain('word');
    expect([...names.values()]).not.toContain('frac');
    expect([...names.values()]).not.toContain('short');
    expect(names.has(77)).toBe(false);
  });

  it('reads /etc/group lines the same way (gid is field 3)', () => {
    const group = '# groups\nroot:x:0:\nsudo:x:27:alice,bob\nadm:x:4:syslog\n\nbad group line\nnogroup:x:65534:\n';
    const names = parseAccountFile(group);
    expect(Object.fromEntries(names)).toEqual({ 0: 'root', 4: 'adm', 27: 'sudo', 65534: 'nogroup' });
  });

  it('gives no names for an empty file or one with comments only', () => {
    expect(parseAccountFile('').size).toBe(0);
    expect(parseAccountFile('\n\n#only comments\n').size).toBe(0);
  });

  it('never throws and only maps integer ids', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.stringMatching(/^[a-z#]{0,4}(:[a-z0-9.]{0,3}){0,6}$/)), { maxLength: 10 }), (lines) => {
        const names = parseAccountFile(lines.join('\n'));
        for (const [id, name] of names) {
          expect(Number.isInteger(id)).toBe(true);
          expect(name).not.toBe('');
        }
      }),
    );
  });
});

describe('parseHostsFile', () => {
  const hosts = [
    '# /etc/hosts',
    '127.0.0.1\tlocalhost',
    '127.0.1.1 myhost.example.org myhost   # trailing comment',
    '',
    '   # indented comment',
    '::1     localhost ip6-localhost ip6-loopback',
    'fe00::0 ip6-localnet',
    'ff02::1 ip6-allnodes',
    '10.0.0.5 db.internal db',
    '10.0.0.5 second-name-for-db',
    '0:0:0:0:0:0:0:1 other-loopback-name',
    '::ffff:192.168.1.9 mapped-host',
    '10.1 short-form-refused',
    '0x7f.0.0.2 hex-refused',
    'not-an-address some-name',
    '192.168.1.10',
    '  192.168.1.11   indented-host  ',
    '#10.9.9.9 commented-out',
  ].join('\n');

  it('maps canonical addresses to their first name', () => {
    const names = parseHostsFile(hosts);
    expect(names.get('127.0.0.1')).toBe('localhost');
    expect(names.get('127.0.1.1')).toBe('myhost.example.org');
    expect(names.get('::1')).toBe('localhost');
    expect(names.get('fe00::')).toBe('ip6-localnet');
    expect(names.get('ff02::1')).toBe('ip6-allnodes');
    expect(names.get('10.0.0.5')).toBe('db.internal');
    expect(names.get('192.168.1.9')).toBe('mapped-host');
    expect(names.get('192.168.1.11')).toBe('indented-host');
  });

  it('skips comments, lines without a name and addresses that are not canonical IPv4/IPv6', () => {
    const names = parseHostsFile(hosts);
    expect([...names.keys()].sort()).toEqual(
      ['10.0.0.5', '127.0.0.1', '127.0.1.1', '192.168.1.11', '192.168.1.9', '::1', 'fe00::', 'ff02::1'].sort(),
    );
    expect([...names.values()]).not.toContain('other-loopback-name');
    expect([...names.values()]).not.toContain('commented-out');
  });

  it('gives nothing for an empty file', () => {
    expect(parseHostsFile('').size).toBe(0);
  });

  it('never throws, and every key is in canonical form', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-f:.# ]{0,20} [a-z]{1,5}$/)), { maxLength: 10 }), (lines) => {
        for (const [address, name] of parseHostsFile(lines.join('\n'))) {
          expect(name.length).toBeGreaterThan(0);
          expect(name).not.toMatch(/\s|#/);
          expect(canonicalAddress(address)).toBe(address);
        }
      }),
    );
  });
});
