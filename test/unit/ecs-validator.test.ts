import { describe, expect, it } from 'vitest';
import { ecsFieldDefinition, flattenEcsDocument, parseCsv, validateEcsDocument } from '../helpers/ecs-validator.js';

/** A hand-written ECS document that follows every rule of the validator. */
function validDocument(): Record<string, unknown> {
  return {
    '@timestamp': '2026-11-23T01:02:03.000Z',
    ecs: { version: '9.0.0' },
    event: { kind: 'state', category: ['network'], type: ['connection', 'info'], outcome: 'success', module: 'netmon' },
    host: { name: 'web-1', os: { type: 'linux' } },
    network: { transport: 'tcp', type: 'ipv6', direction: 'ingress', iana_number: '6' },
    source: { ip: '2001:db8::7', port: 51234 },
    destination: { ip: '2001:db8::1', port: 443 },
    related: { ip: ['2001:db8::7', '2001:db8::1'], user: ['alice'] },
    process: {
      pid: 4242,
      name: 'nginx',
      args: ['nginx', '-g', 'daemon off;'],
      args_count: 3,
      start: '2026-11-23T02:00:00+01:00',
      hash: { sha256: 'b'.repeat(64) },
      io: { text: 'GET /' },
    },
    container: { labels: { 'app.kubernetes.io/name': 'web' } },
    labels: { netmon_socket_state: 'ESTABLISHED', env: 'prod' },
  };
}

describe('parseCsv', () => {
  it('splits unquoted fields on commas and records on LF or CRLF', () => {
    expect(parseCsv('a,b,c\n1,,3\r\nx,y,z\n')).toEqual([
      ['a', 'b', 'c'],
      ['1', '', '3'],
      ['x', 'y', 'z'],
    ]);
  });

  it('keeps commas, line breaks and doubled quotes inside quoted fields', () => {
    expect(parseCsv('f,"{""a"": 1, ""b"": 2}","line 1\nline 2",""\nlast,"",",",x')).toEqual([
      ['f', '{"a": 1, "b": 2}', 'line 1\nline 2', ''],
      ['last', '', ',', 'x'],
    ]);
  });

  it('reads a trailing comma as an empty last field', () => {
    expect(parseCsv('a,')).toEqual([['a', '']]);
  });

  it('rejects malformed quoting', () => {
    expect(() => parseCsv('a,"unterminated\n')).toThrow(/unterminated/);
    expect(() => parseCsv('a,b"c\n')).toThrow(/quote inside unquoted field/);
    expect(() => parseCsv('a,"b"c\n')).toThrow(/after closing quote/);
  });
});

describe('ECS field list fixture', () => {
  it('parses rows with quoted commas and multi-line examples', () => {
    // The labels row has a quoted JSON example with commas and doubled quotes.
    expect(ecsFieldDefinition('labels')).toEqual({ name: 'labels', type: 'object', array: false });
    // The gen_ai.input.messages row has a multi-line example; the row after it must still parse.
    expect(ecsFieldDefinition('gen_ai.input.messages')?.type).toBe('flattened');
    expect(ecsFieldDefinition('related.ip')).toEqual({ name: 'related.ip', type: 'ip', array: true });
    expect(ecsFieldDefinition('source.port')).toEqual({ name: 'source.port', type: 'long', array: false });
    expect(ecsFieldDefinition('process.name.text')?.multiFieldOf).toBe('process.name');
    expect(ecsFieldDefinition('process.hash.blake3')).toBeUndefined();
  });
});

describe('flattenEcsDocument', () => {
  it('yields dotted leaf paths, keeping arrays, labels and leaf object fields whole', () => {
    const leaves = new Map(flattenEcsDocument(validDocument()));
    expect(leaves.get('event.category')).toEqual(['network']);
    expect(leaves.get('process.hash.sha256')).toBe('b'.repeat(64));
    expect(leaves.get('labels')).toEqual({ netmon_socket_state: 'ESTABLISHED', env: 'prod' });
    expect(leaves.get('container.labels')).toEqual({ 'app.kubernetes.io/name': 'web' });
    // process.io is an ECS object with sub-fields, so it recurses.
    expect(leaves.get('process.io.text')).toBe('GET /');
    expect(leaves.has('process')).toBe(false);
  });
});

describe('validateEcsDocument', () => {
  it('accepts a hand-written valid document', () => {
    expect(validateEcsDocument(validDocument())).toEqual([]);
  });

  it('accepts the same document written with dotted keys', () => {
    const dotted = Object.fromEntries(flattenEcsDocument(validDocument()).filter(([path]) => path !== 'labels'));
    expect(dotted['source.port']).toBe(51234);
    expect(validateEcsDocument({ ...dotted, 'labels.env': 'prod' })).toEqual([]);
  });

  it('rejects a value that is not an object', () => {
    expect(validateEcsDocument([])).toEqual(['document: expected a JSON object, got array']);
    expect(validateEcsDocument('{}')).toEqual(['document: expected a JSON object, got string "{}"']);
  });

  describe('field names', () => {
    it('reports a field ECS does not define', () => {
      expect(validateEcsDocument({ ...validDocument(), netmon: { socket: { inode: 5 } } })).toEqual([
        'netmon.socket.inode: not an ECS field, a labels.* key or a declared extension',
      ]);
      expect(validateEcsDocument({ source: { address_family: 'ipv4' } })).toEqual([
        'source.address_family: not an ECS field, a labels.* key or a declared extension',
      ]);
    });

    it('reports an undeclared extension and accepts it once declared, with its type checked', () => {
      const doc = { ...validDocument(), process: { pid: 1, hash: { sha256: 'b'.repeat(64), blake3: 'a'.repeat(64) } } };
      expect(validateEcsDocument(doc)).toEqual([
        'process.hash.blake3: not an ECS field, a labels.* key or a declared extension',
      ]);
      expect(validateEcsDocument(doc, { extensions: { 'process.hash.blake3': 'keyword' } })).toEqual([]);
      expect(
        validateEcsDocument({ process: { hash: { blake3: 7 } } }, { extensions: { 'process.hash.blake3': 'keyword' } }),
      ).toEqual(['process.hash.blake3: expected a string (keyword), got number 7']);
    });

    it('reports an index-only multi-field set in a document', () => {
      expect(validateEcsDocument({ 'process.name.text': 'nginx' })).toEqual([
        'process.name.text: an index-only multi-field of process.name; set process.name instead',
      ]);
    });

    it('reports a field set twice, nested and dotted', () => {
      expect(validateEcsDocument({ source: { port: 1 }, 'source.port': 2 })).toEqual(['source.port: set more than once']);
    });
  });

  describe('value types', () => {
    it('reports a port given as a string or a fraction', () => {
      expect(validateEcsDocument({ ...validDocument(), destination: { ip: '2001:db8::1', port: '443' } })).toEqual([
        'destination.port: expected an integer (long), got string "443"',
      ]);
      expect(validateEcsDocument({ source: { port: 443.5 } })).toEqual([
        'source.port: expected an integer (long), got number 443.5',
      ]);
    });

    it('reports an object where a scalar field is expected', () => {
      expect(validateEcsDocument({ process: { pid: { value: 1 } } })).toEqual([
        'process.pid: expected an integer (long), got object',
      ]);
    });

    it('reports bad IP addresses, singly and inside an ip array', () => {
      expect(validateEcsDocument({ source: { ip: '999.1.1.1' } })).toEqual([
        'source.ip: expected a textual IPv4 or IPv6 address, got string "999.1.1.1"',
      ]);
      expect(validateEcsDocument({ server: { ip: 'localhost' } })).toEqual([
        'server.ip: expected a textual IPv4 or IPv6 address, got string "localhost"',
      ]);
      expect(validateEcsDocument({ destination: { ip: 2130706433 } })).toEqual([
        'destination.ip: expected a textual IPv4 or IPv6 address, got number 2130706433',
      ]);
      expect(validateEcsDocument({ related: { ip: ['10.0.0.1', '::g'] } })).toEqual([
        'related.ip[1]: expected a textual IPv4 or IPv6 address, got string "::g"',
      ]);
    });

    it('reports a date that is not ISO 8601, even when Date can parse it', () => {
      const rfc2822 = 'Mon, 23 Nov 2026 01:02:03 GMT';
      expect(Number.isNaN(Date.parse(rfc2822))).toBe(false);
      expect(validateEcsDocument({ '@timestamp': rfc2822 })).toEqual([
        `@timestamp: expected an ISO 8601 date-time with a timezone (Z or ±hh:mm), got string "${rfc2822}"`,
      ]);
      expect(validateEcsDocument({ '@timestamp': 1795395723000 })).toEqual([
        '@timestamp: expected an ISO 8601 date string, got number 1795395723000',
      ]);
      expect(validateEcsDocument({ '@timestamp': '2026-02-30T00:00:00Z' })).toEqual([
        '@timestamp: not a valid calendar date, got string "2026-02-30T00:00:00Z"',
      ]);
    });

    it('reports a date without a timezone', () => {
      expect(validateEcsDocument({ process: { start: '2026-11-23T01:02:03.000' } })).toEqual([
        'process.start: expected an ISO 8601 date-time with a timezone (Z or ±hh:mm), got string "2026-11-23T01:02:03.000"',
      ]);
      expect(validateEcsDocument({ '@timestamp': '2026-11-23' })).toHaveLength(1);
      expect(validateEcsDocument({ '@timestamp': '2026-11-23T01:02:03-05:30' })).toEqual([]);
    });

    it('accepts keyword arrays but no arrays of other non-array fields', () => {
      expect(validateEcsDocument({ host: { name: ['a', 'b'] }, process: { args: ['x'] } })).toEqual([]);
      expect(validateEcsDocument({ host: { name: ['a', 1] } })).toEqual([
        'host.name[1]: expected a string (keyword), got number 1',
      ]);
      expect(validateEcsDocument({ source: { port: [80, 443] } })).toEqual(['source.port: long field does not take an array']);
    });

    it('reports booleans, numbers and nulls of the wrong kind', () => {
      expect(validateEcsDocument({ process: { interactive: 'true' } })).toEqual([
        'process.interactive: expected a boolean, got string "true"',
      ]);
      expect(validateEcsDocument({ process: { name: 42 } })).toEqual(['process.name: expected a string (keyword), got number 42']);
      expect(validateEcsDocument({ process: { command_line: null } })).toEqual([
        'process.command_line: null value (omit the field instead)',
      ]);
    });

    it('requires labels to be an object of keyword strings', () => {
      expect(validateEcsDocument({ labels: { inode: 0 } })).toEqual([
        'labels.inode: label values must be keyword strings, got number 0',
      ]);
      expect(validateEcsDocument({ labels: { nested: { a: 'b' } } })).toEqual([
        'labels.nested: label values must be keyword strings, got object',
      ]);
      expect(validateEcsDocument({ labels: 'x' })).toEqual(['labels: expected an object of keyword strings, got string "x"']);
      expect(validateEcsDocument({ 'labels.a.b': 'x' })).toEqual([
        'labels.a.b: label names must be non-empty and contain no dots',
      ]);
    });
  });

  describe('categorization', () => {
    it('reports a disallowed event.kind', () => {
      const doc = validDocument();
      (doc.event as Record<string, unknown>).kind = 'inventory';
      const problems = validateEcsDocument(doc);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^event\.kind: "inventory" is not an allowed value \(allowed: alert, .*state/);
    });

    it('reports disallowed event.category, event.type and event.outcome values', () => {
      expect(validateEcsDocument({ event: { category: ['socket'] } })[0]).toMatch(/^event\.category: "socket" is not an allowed value/);
      expect(validateEcsDocument({ event: { type: ['listening'] } })[0]).toMatch(/^event\.type: "listening" is not an allowed value/);
      expect(validateEcsDocument({ event: { outcome: 'ok' } })[0]).toMatch(/^event\.outcome: "ok" is not an allowed value/);
    });

    it('reports an event.type that is not expected with the event.category', () => {
      expect(validateEcsDocument({ event: { kind: 'state', category: ['network'], type: ['creation'] } })).toEqual([
        'event.type: "creation" is not expected with event.category "network" (expected: access, allowed, connection, denied, end, info, protocol, start)',
      ]);
    });

    it('requires each event.type to fit every event.category given', () => {
      // "connection" fits network but not process; "info" fits both.
      expect(validateEcsDocument({ event: { category: ['network', 'process'], type: ['connection', 'info'] } })).toEqual([
        'event.type: "connection" is not expected with event.category "process" (expected: access, change, end, info, start)',
      ]);
    });

    it('checks a single-string category and type like arrays', () => {
      expect(validateEcsDocument({ event: { category: 'network', type: 'connection' } })).toEqual([]);
      expect(validateEcsDocument({ event: { category: 'file', type: 'connection' } })).toEqual([
        'event.type: "connection" is not expected with event.category "file" (expected: access, change, creation, deletion, info)',
      ]);
    });
  });
});
