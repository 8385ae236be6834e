import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../src/diff/diff-snapshots.js';
import { loadControlsCatalogue } from '../../src/findings/controls.js';
import { evaluateFindings } from '../../src/findings/evaluate-findings.js';
import { parseExpectedChanges } from '../../src/findings/expected-changes.js';
import { ECS_EXTENSION_FIELDS } from '../../src/outputs/ecs.js';
import { renderFindingsEcs } from '../../src/outputs/ecs-findings.js';
import { validateEcsDocument } from '../helpers/ecs-validator.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

const nginx = makeProcess({ pid: 10, name: 'nginx', executable: '/usr/sbin/nginx', uid: 0, user: 'root' });
const evil = makeProcess({ pid: 66, name: 'nc', executable: '/tmp/nc', uid: 1000, user: 'alice', commandLine: ['nc', '-l', '31337'] });
const before = makeSnapshot({
  sockets: [makeSocket({ localAddress: '127.0.0.1', localPort: 8080, inode: 1, owners: [{ pid: 10, fd: 3 }] }), makeSocket({ localAddress: '0.0.0.0', localPort: 443, inode: 5, owners: [{ pid: 10, fd: 4 }] })],
  processes: [nginx],
});
const after = makeSnapshot({
  sockets: [
    makeSocket({ localAddress: '0.0.0.0', localPort: 8080, inode: 2, owners: [{ pid: 10, fd: 3 }] }),
    makeSocket({ localAddress: '0.0.0.0', localPort: 31337, inode: 3, owners: [{ pid: 66, fd: 3 }] }),
    makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '10.0.0.5', localPort: 50000, remoteAddress: '185.220.101.5', remotePort: 4444, inode: 4, owners: [{ pid: 66, fd: 4 }] }),
  ],
  processes: [nginx, evil],
});

describe('renderFindingsEcs', () => {
  const findings = evaluateFindings(diffSnapshots(before, after), loadControlsCatalogue(), {
    expected: parseExpectedChanges('schema_version: 1\nexpected:\n  - open: ":8080"\n    approved_by: "J. Doe"\n  - open: ":9999"\n', 'e.yaml'),
  });
  const text = renderFindingsEcs({ before: { id: 1, takenAt: before.takenAt }, after: { id: 2, takenAt: after.takenAt }, host: 'testhost', change: 'CHG-7', findings, disclaimer: '' });
  const docs = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, any>);

  it('writes one valid ECS 9 document per finding', () => {
    expect(docs).toHaveLength(findings.length);
    expect(findings.map((f) => f.kind).sort()).toEqual(['exposure-widened', 'expected-missing', 'listener-closed', 'listener-opened', 'new-external-destination', 'outbound-opened'].sort());
    for (const doc of docs) expect(validateEcsDocument(doc, { extensions: ECS_EXTENSION_FIELDS })).toEqual([]);
  });

  it('writes the findings worst first, as the JSON and text outputs do', () => {
    const severities = docs.map((d) => d.event.severity as number);
    expect(severities).toEqual([...severities].sort((a, b) => b - a));
    expect(new Set(severities).size).toBeGreaterThan(1);
  });

  it('makes unapproved findings of medium severity or above alerts, with actions, rule and control tags', () => {
    const byAction = Object.fromEntries(docs.map((d) => [d.event.action, d]));
    expect(byAction.port_opened.event.kind).toBe('alert');
    expect(byAction.port_opened.server).toEqual({ ip: '0.0.0.0', port: 31337 });
    expect(byAction.port_opened.process.executable).toBe('/tmp/nc');
    expect(byAction.port_opened.event.severity).toBe(5);
    expect(byAction.port_opened.tags).toContain('csf2:DE.CM-01');
    expect(byAction.exposure_widened.event.kind).toBe('event'); // approved by the expected change
    expect(byAction.exposure_widened.labels.netmon_approval).toBe('approved');
    expect(byAction.exposure_widened.labels.netmon_approved_by).toBe('J. Doe');
    expect(byAction.port_opened.labels.netmon_approved_by).toBeUndefined();
    expect(byAction.new_external_destination.destination).toEqual({ ip: '185.220.101.5', port: 4444 });
    expect(byAction.expected_change_missing.labels.netmon_approval).toBe('missing');
    expect(byAction.port_closed.event.type).toEqual(['end']);
    for (const d of docs) {
      expect(d.rule.id).toMatch(/^NM-/);
      expect(d.labels.netmon_change).toBe('CHG-7');
    }
  });
});

describe('renderFindingsEcs: network namespaces', () => {
  it('names the namespace of a listener finding (labels.netmon_namespace): the same address and port in two namespaces are two findings that do not read alike', () => {
    const ns = { inode: 4026532999, name: 'blue', host: false, processes: 1, sockets: 1, read: true };
    const host = { inode: 4026531840, name: 'host', host: true, processes: 1, sockets: 1, read: true };
    const two = makeSnapshot({
      sockets: [makeSocket({ localAddress: '127.0.0.1', localPort: 4995, inode: 7, netns: host.inode, owners: [{ pid: 10, fd: 3 }] }), makeSocket({ localAddress: '127.0.0.1', localPort: 4995, inode: 8, netns: ns.inode, owners: [{ pid: 10, fd: 4 }] })],
      processes: [nginx],
    });
    const none = makeSnapshot({ sockets: [], processes: [] });
    const findings = evaluateFindings(diffSnapshots({ ...none, namespaces: [host, ns] }, { ...two, namespaces: [host, ns] }), loadControlsCatalogue(), { expected: null });
    const docs = renderFindingsEcs({ before: { id: 1, takenAt: none.takenAt }, after: { id: 2, takenAt: two.takenAt }, host: 'testhost', findings, disclaimer: '' })
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    expect(docs.map((d) => d.labels.netmon_namespace).sort()).toEqual(['blue', 'host']);
    for (const doc of docs) expect(validateEcsDocument(doc, { extensions: ECS_EXTENSION_FIELDS })).toEqual([]);
  });
});


describe('renderFindingsEcs: pivots and hostile text', () => {
  it('puts the server address of a listener finding in related.ip, as the destination of an outbound one', () => {
    const findings = evaluateFindings(diffSnapshots(before, after), loadControlsCatalogue(), { expected: null });
    const docs = renderFindingsEcs({ before: { id: 1, takenAt: before.takenAt }, after: { id: 2, takenAt: after.takenAt }, host: 'testhost', findings, disclaimer: '' })
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    for (const doc of docs) {
      if (doc.server?.ip !== undefined) expect(doc.related?.ip, doc.message).toEqual([doc.server.ip]);
      if (doc.destination?.ip !== undefined) expect(doc.related?.ip, doc.message).toEqual([doc.destination.ip]);
    }
    expect(docs.some((d) => d.server?.ip === '0.0.0.0')).toBe(true);
  });

  it('writes a byte of a process path that is not UTF-8 as U+FFFD in labels too (the reasons quote the path)', () => {
    // A deleted executable whose name holds bytes 0xff 0xfe, kept as lone surrogates (decodeExact).
    const path = '/tmp/=ev"il\nexe \udcff\udcfe';
    const hostile = makeProcess({ pid: 77, name: 'x\udcff', executable: path, executableDeleted: true, uid: 1000, user: 'alice' });
    const opened = makeSnapshot({ sockets: [makeSocket({ localAddress: '127.0.0.1', localPort: 23421, inode: 9, owners: [{ pid: 77, fd: 3 }] })], processes: [hostile] });
    const none = makeSnapshot({ sockets: [], processes: [] });
    const findings = evaluateFindings(diffSnapshots(none, opened), loadControlsCatalogue(), { expected: null });
    const text = renderFindingsEcs({ before: { id: 1, takenAt: none.takenAt }, after: { id: 2, takenAt: opened.takenAt }, host: 'testhost', findings, disclaimer: '' });
    const [doc] = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(doc!.labels.netmon_reasons).toContain('exe \ufffd\ufffd');
    // No lone surrogate anywhere: the text encodes to UTF-8 and back unchanged.
    expect(text).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    expect(Buffer.from(text, 'utf8').toString('utf8')).toBe(text);
  });
});
