import { describe, expect, it } from 'vitest';
import { renderText } from '../../src/outputs/text.js';
import { makeSnapshot } from '../helpers/make.js';

describe('renderText', () => {
  it('shows one row per socket and a coverage line', () => {
    const text = renderText(makeSnapshot());
    expect(text).toContain('127.0.0.1:8080');
    expect(text).toContain('coverage: 1 sockets (1 listening), 1 attributed (100.0%)');
  });
});
