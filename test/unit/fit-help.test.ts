import { describe, expect, it } from 'vitest';
import { fitHelp } from '../../src/cli/program.js';

describe('fitHelp: help text fitted to the terminal', () => {
  it('leaves lines that fit alone', () => {
    const text = 'Usage: netmon [options]\n\n  -h, --help   display help\n';
    expect(fitHelp(text, 80)).toBe(text);
  });

  it('wraps a prose paragraph as one text, an example under its description column, a long command further in', () => {
    const text = [
      'A gap is time without evidence: a capture killed or stopped, a system suspended, captures that',
      'failed or found the store locked.',
      '',
      'Examples:',
      '  netmon gaps              every gap the store records, with the reason of each and its length',
      '  netmon verify-trail --csv /var/log/netmon/connections.csv --db /var/lib/netmon/netmon.db',
    ].join('\n');
    expect(fitHelp(text, 60)).toBe(
      [
        'A gap is time without evidence: a capture killed or stopped,',
        'a system suspended, captures that failed or found the store',
        'locked.',
        '',
        'Examples:',
        '  netmon gaps              every gap the store records, with',
        '                           the reason of each and its length',
        '  netmon verify-trail --csv /var/log/netmon/connections.csv',
        '      --db /var/lib/netmon/netmon.db',
      ].join('\n'),
    );
    for (const line of fitHelp(text, 60).split('\n')) expect(line.length).toBeLessThanOrEqual(60);
  });

  it('keeps a word longer than the width whole', () => {
    expect(fitHelp(`  netmon show ${'x'.repeat(50)}`, 30)).toBe(`  netmon show\n      ${'x'.repeat(50)}`);
  });
});
