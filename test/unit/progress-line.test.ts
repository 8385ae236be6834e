import { describe, expect, it } from 'vitest';
import { progressLine, withProgressLine, type CliIo } from '../../src/cli/program.js';
import * as cells from '../../src/outputs/width.js';

/** What a command writes, in order, with the stream it went to. */
function recorder(stderrIsTTY: boolean, stderrColumns?: number): { io: CliIo; writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    io: { stdout: (t) => void writes.push(`out:${t}`), stderr: (t) => void writes.push(`err:${t}`), env: {}, stderrIsTTY, ...(stderrColumns === undefined ? {} : { stderrColumns }) },
  };
}

describe('the progress line', () => {
  it('is cleared before any other write to stdout or stderr, once, and only when it is shown', () => {
    const { io, writes } = recorder(true);
    const tty = withProgressLine(io);
    const progress = progressLine(tty, 'once');
    tty.stderr('netmon: before\n');
    progress('reading 3 processes');
    progress('hashing executables: 1 of 2');
    tty.stdout('live view\n');
    tty.stderr('netmon: appended 2 rows\n');
    progress(null);
    expect(writes).toEqual([
      'err:netmon: before\n',
      'err:\r\x1b[2Knetmon: once: reading 3 processes',
      'err:\r\x1b[2Knetmon: once: hashing executables: 1 of 2',
      'err:\r\x1b[2K',
      'out:live view\n',
      'err:netmon: appended 2 rows\n',
    ]);
  });

  it('clears a line still shown when asked (the end of a command), and keeps its text on one line', () => {
    const { io, writes } = recorder(true);
    const tty = withProgressLine(io);
    progressLine(tty, 'report')('verifying /tmp/a\nb\x1b[31m.db');
    tty.progress!(null);
    tty.progress!(null);
    expect(writes).toHaveLength(2);
    expect(writes[0]).not.toMatch(/\n|\x1b\[31m/);
    expect(writes[1]).toBe('err:\r\x1b[2K');
  });

  it('is absent when stderr is not a terminal: the streams are left as they are', () => {
    const { io, writes } = recorder(false);
    const plain = withProgressLine(io);
    expect(plain).toBe(io);
    expect(plain.progress).toBeUndefined();
    progressLine(plain, 'once')('reading 3 processes');
    plain.stdout('live view\n');
    expect(writes).toEqual(['out:live view\n']);
  });

  it('on a terminal of 40 columns: messages wrap at spaces with an indent, the progress line is cut to fit', () => {
    const { io, writes } = recorder(true, 40);
    const tty = withProgressLine(io, cells);
    tty.stderr('netmon: warning: 1 of 28001 sockets could not be attributed; pid 1 (init) is protected\n');
    progressLine(tty, 'once')('reading the socket tables and every process\'s descriptors');
    const lines = writes[0]!.slice('err:'.length).split('\n');
    expect(lines).toEqual(['netmon: warning: 1 of 28001 sockets', '  could not be attributed; pid 1 (init)', '  is protected', '']);
    // Every character is still there, in order: only spaces became line breaks.
    expect(lines.join(' ').replace(/ +/g, ' ').trim()).toBe('netmon: warning: 1 of 28001 sockets could not be attributed; pid 1 (init) is protected');
    const progress = writes[1]!.slice('err:\r\x1b[2K'.length);
    expect(progress).toBe('netmon: once: reading the socket table…');
    expect(progress.length).toBe(39);
  });

  it('not on a terminal: a message stays one line, whatever its length (one log line each)', () => {
    const { io, writes } = recorder(false, 40);
    const long = `netmon: warning: ${'word '.repeat(30)}\n`;
    withProgressLine(io, cells).stderr(long);
    expect(writes).toEqual([`err:${long}`]);
  });
});
