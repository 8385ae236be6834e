import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../src/diff/diff-snapshots.js';
import { ConfigError } from '../../src/errors.js';
import { isoWithOffset } from '../../src/model/iso-time.js';
import { loadControlsCatalogue } from '../../src/findings/controls.js';
import { evaluateFindings } from '../../src/findings/evaluate-findings.js';
import { windowFindings } from '../../src/findings/window-findings.js';
import { checkExpectedFor, parseExpectedChanges } from '../../src/findings/expected-changes.js';
import { failsAt } from '../../src/outputs/findings.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

const catalogue = loadControlsCatalogue();
const nginx = makeProcess({ pid: 10, name: 'nginx', executable: '/usr/sbin/nginx', uid: 0, user: 'root' });
const curl = makeProcess({ pid: 20, name: 'curl', executable: '/usr/bin/curl', uid: 1000, user: 'alice' });
const before = makeSnapshot({ sockets: [makeSocket({ localAddress: '0.0.0.0', localPort: 8080, inode: 1, owners: [{ pid: 10, fd: 3 }] })], processes: [nginx, curl] });
const after = makeSnapshot({
  sockets: [
    makeSocket({ localAddress: '0.0.0.0', localPort: 8443, inode: 2, owners: [{ pid: 10, fd: 3 }] }),
    makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '10.0.0.5', localPort: 40000, remoteAddress: '93.184.216.34', remotePort: 443, inode: 3, owners: [{ pid: 20, fd: 4 }] }),
  ],
  processes: [nginx, curl],
});
const diff = diffSnapshots(before, after);

function classify(yaml: string, now = new Date('2026-11-23T00:00:00Z')) {
  return evaluateFindings(diff, catalogue, { expected: parseExpectedChanges(yaml, 'chg.yaml'), now });
}

describe('expected changes', () => {
  it('approves what the ticket lists, and leaves the rest unexpected', () => {
    const findings = classify('schema_version: 1\nexpected:\n  - open: "tcp:8443"\n    justification: TLS\n  - close: ":8080"\n');
    const byKind = Object.fromEntries(findings.map((f) => [f.kind, f.approval]));
    expect(byKind).toEqual({ 'listener-opened': 'approved', 'listener-closed': 'approved', 'outbound-opened': 'unexpected', 'new-external-destination': 'unexpected' });
    expect(findings.find((f) => f.kind === 'listener-opened')?.expected).toMatchObject({ action: 'open', pattern: 'tcp:8443', justification: 'TLS', line: 3, source: 'chg.yaml' });
  });

  it('allows destinations, with a path glob on the executable', () => {
    const ok = classify('schema_version: 1\nexpected:\n  - allow: "93.184.216.34:443"\n    path: "/usr/bin/*"\n');
    expect(ok.filter((f) => f.approval === 'approved').map((f) => f.kind).sort()).toEqual(['new-external-destination', 'outbound-opened']);
    const wrongPath = classify('schema_version: 1\nexpected:\n  - allow: "93.184.216.34:443"\n    path: "/opt/*"\n');
    expect(wrongPath.filter((f) => f.approval === 'approved')).toEqual([]);
  });

  it('makes each expected change that did not happen its own missing finding', () => {
    const findings = classify('schema_version: 1\nexpected:\n  - open: ":9000"\n    justification: "new API"\n');
    const missing = findings.filter((f) => f.approval === 'missing');
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ kind: 'expected-missing', severity: 'medium', summary: 'expected open :9000 did not happen (chg.yaml:3)', reasons: ['approved as: new API'] });
  });

  it('ignores expired approvals: the finding stays unexpected', () => {
    const findings = classify('schema_version: 1\nexpected:\n  - open: "tcp:8443"\n    expires: 2026-01-31\n');
    expect(findings.find((f) => f.kind === 'listener-opened')?.approval).toBe('unexpected');
    expect(findings.some((f) => f.kind === 'expected-missing')).toBe(false);
    // Said on the finding: the reviewer sees why an entry that matches did not approve it.
    // In local time with its offset, as every time netmon prints (a pack's is its time zone): a date alone ends at its midnight.
    expect(findings.find((f) => f.kind === 'listener-opened')?.reasons.at(-1)).toBe(`chg.yaml:3 approved it until ${isoWithOffset(new Date(2026, 1, 1))}, which has passed`);
    expect(findings.filter((f) => f.reasons.some((r) => r.includes('which has passed')))).toHaveLength(1);
  });

  it('judges expiry at the time the post snapshot was taken (finding rules 5), not when the diff or pack is made (an auditor probe)', () => {
    const yaml = 'schema_version: 1\nexpected:\n  - open: "tcp:8443"\n    expires: 2026-11-23T12:00:00Z\n';
    const expected = parseExpectedChanges(yaml, 'chg.yaml');
    const opened = (takenAt: string, now: Date, rules?: number) =>
      windowFindings(before, { ...after, takenAt }, catalogue, { expected, now, ...(rules === undefined ? {} : { rules }) }).findings.find((f) => f.kind === 'listener-opened')!;
    const monthLater = new Date('2026-12-23T00:00:00Z');
    // Seen before the expiry, reported a month after: still approved.
    expect(opened('2026-11-23T11:00:00.000Z', monthLater).approval).toBe('approved');
    // Seen after it: unexpected, and the reason names the capture's time, not the report's.
    const late = opened('2026-11-23T13:00:00.000Z', new Date('2026-11-23T11:00:00Z'));
    expect(late.approval).toBe('unexpected');
    expect(late.reasons.at(-1)).toBe(`chg.yaml:3 approved it until ${isoWithOffset(new Date('2026-11-23T12:00:00Z'))}, which had passed when the post snapshot was taken (${isoWithOffset(new Date('2026-11-23T13:00:00Z'))})`);
    // Rules 4, as packs made before say: the time the findings were made.
    expect(opened('2026-11-23T11:00:00.000Z', monthLater, 4).approval).toBe('unexpected');
    expect(opened('2026-11-23T11:00:00.000Z', monthLater, 4).reasons.at(-1)).toMatch(/, which has passed$/);
  });

  it('an expiry date alone holds through that day (local time); a time is that moment', () => {
    const opened = (yaml: string, now: Date) => classify(yaml, now).find((f) => f.kind === 'listener-opened')?.approval;
    const dateOnly = 'schema_version: 1\nexpected:\n  - open: "tcp:8443"\n    expires: 2026-11-23\n';
    expect(opened(dateOnly, new Date(2026, 10, 23, 23, 59))).toBe('approved');
    expect(opened(dateOnly, new Date(2026, 10, 24, 0, 0, 1))).toBe('unexpected');
    const moment = 'schema_version: 1\nexpected:\n  - open: "tcp:8443"\n    expires: 2026-11-23T12:00:00Z\n';
    expect(opened(moment, new Date('2026-11-23T11:59:59Z'))).toBe('approved');
    expect(opened(moment, new Date('2026-11-23T12:00:01Z'))).toBe('unexpected');
    expect(() => parseExpectedChanges('schema_version: 1\nexpected:\n  - open: ":1"\n    expires: 2026-02-30\n', 'bad.yaml')).toThrow(/bad\.yaml:4: expires: "2026-02-30" is not a date/);
  });

  it('fails only on findings that are not approved', () => {
    const all = classify('schema_version: 1\nexpected:\n  - open: "tcp:8443"\n  - close: ":8080"\n  - allow: "93.184.216.34:443"\n');
    expect(failsAt(all, 'info')).toBe(false);
    expect(failsAt(classify('schema_version: 1\nexpected: []\n'), 'medium')).toBe(true);
  });

  it('belong to their change: a file for another ticket, or for a ticket when the window has none, is refused; one without change: applies anywhere', () => {
    const forChange = parseExpectedChanges('schema_version: 1\nchange: CHG-9999\nexpected:\n  - open: ":8443"\n', 'chg.yaml');
    expect(() => checkExpectedFor(forChange, 'CHG-9999')).not.toThrow();
    let error: unknown;
    try {
      checkExpectedFor(forChange, 'CHG-1234');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe('the expected changes in chg.yaml are for change CHG-9999, but the window compared is change CHG-1234: their approvals do not apply to it');
    expect(() => checkExpectedFor(forChange, null)).toThrow('but the snapshots compared carry no change ticket');
    // A ticket written as a number is still a ticket.
    const numeric = parseExpectedChanges('schema_version: 1\nchange: 4711\nexpected: []\n', 'n.yaml');
    expect(numeric.change).toBe('4711');
    expect(() => checkExpectedFor(numeric, 'CHG-1')).toThrow('are for change 4711');
    const anyWindow = parseExpectedChanges('schema_version: 1\nexpected:\n  - open: ":8443"\n', 'any.yaml');
    expect(() => checkExpectedFor(anyWindow, 'CHG-1234')).not.toThrow();
    expect(() => checkExpectedFor(anyWindow, null)).not.toThrow();
    expect(() => parseExpectedChanges('schema_version: 1\nchange: [a, b]\nexpected: []\n', 'l.yaml')).toThrow('l.yaml:2');
  });

  it('names the line of every bad entry', () => {
    let message = '';
    try {
      parseExpectedChanges('schema_version: 1\nexpected:\n  - open: "tcp:99999"\n  - shut: ":80"\n  - allow: "1.2.3.4:5"\n    expires: someday\n', 'bad.yaml');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/bad\.yaml:3: open: "tcp:99999" is not an endpoint pattern \(the --filter syntax\): port "99999" is above 65535/);
    expect(message).toMatch(/bad\.yaml:4: give exactly one of open, close, replace, allow/);
    expect(message).toMatch(/bad\.yaml:6: expires: "someday" is not a date/);
  });

  it('names who approved: an entry\'s approved_by, else the file\'s; a value that is no name, or a misspelt key, is refused with its line', () => {
    const parsed = parseExpectedChanges('schema_version: 1\nchange: CHG-9\napproved_by: "CAB of 2026-11-20"\nexpected:\n  - open: "tcp:8443"\n    approved_by: "J. Doe"\n  - close: ":8080"\n', 'who.yaml');
    expect(parsed.entries.map((e) => e.approvedBy)).toEqual(['J. Doe', 'CAB of 2026-11-20']);
    expect(parseExpectedChanges('schema_version: 1\nexpected:\n  - close: ":8080"\n', 'none.yaml').entries[0]!.approvedBy).toBeNull();
    expect(() => parseExpectedChanges('schema_version: 1\napproved_by: 7\nexpected: []\n', 'n.yaml')).toThrow(/n\.yaml:2: approved_by: who approved the change, as the ticket records it, such as "J\. Doe, CAB of 2026-11-20" \(received 7\)/);
    expect(() => parseExpectedChanges('schema_version: 1\nexpected:\n  - open: "tcp:1"\n    approved_by: ""\n', 'e.yaml')).toThrow(/e\.yaml:4: approved_by: who approved/);
    expect(() => parseExpectedChanges(`schema_version: 1\nexpected:\n  - open: "tcp:1"\n    approved_by: "${'x'.repeat(201)}"\n`, 'long.yaml')).toThrow(/long\.yaml:4: approved_by: at most 200 characters/);
    expect(() => parseExpectedChanges('schema_version: 1\nexpected:\n  - open: "tcp:1"\n    aproved_by: "J. Doe"\n', 'slip.yaml')).toThrow(/slip\.yaml:4: unknown key aproved_by \(did you mean approved_by\?\)/);
    // Shown where the approval is: the text of diff names the approver after the justification.
    const findings = classify('schema_version: 1\napproved_by: "J. Doe"\nexpected:\n  - open: "tcp:8443"\n    justification: TLS\n');
    expect(findings.find((f) => f.kind === 'listener-opened')?.expected).toMatchObject({ justification: 'TLS', approvedBy: 'J. Doe' });
  });

  it('refuses a key of its own at the top, so a misspelt change: never turns a ticket\'s list into a standing one', () => {
    expect(() => parseExpectedChanges('schema_version: 1\nchnage: CHG-1234\nexpected:\n  - open: "tcp:8443"\n    justification: TLS\n', 'slip.yaml')).toThrow(
      /slip\.yaml:2: unknown key chnage \(did you mean change\?\): the file holds schema_version, change, approved_by, expected/,
    );
    expect(() => parseExpectedChanges('schema_version: 1\nexpected: []\nbogus: 1\n', 'bogus.yaml')).toThrow(/bogus\.yaml:3: unknown key bogus: the file holds/);
  });

  it('reads a date-only expires: the same way under a %YAML 1.1 header (the end of that local day, not midnight UTC)', () => {
    const body = 'schema_version: 1\nexpected:\n  - open: "tcp:8443"\n    expires: 2026-11-24\n    justification: TLS\n';
    const plain = parseExpectedChanges(body, 'plain.yaml');
    const old = parseExpectedChanges(`%YAML 1.1\n---\n${body}`, 'old.yaml');
    expect(old.entries[0]!.expires?.getTime()).toBe(plain.entries[0]!.expires?.getTime());
    expect(plain.entries[0]!.expires?.getTime()).toBe(new Date(2026, 10, 25).getTime());
  });

  it('names a misspelt action and what it may have meant', () => {
    expect(() => parseExpectedChanges('schema_version: 1\nexpected:\n  - opne: "tcp:8443"\n    justification: TLS\n', 'typo.yaml')).toThrow(
      /typo\.yaml:3: unknown key opne \(did you mean open\?\): an expected change gives one of open, close, replace, allow/,
    );
  });
});
