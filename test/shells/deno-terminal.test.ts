// The Deno shell's line for a workflow stage (shells/deno/terminal.ts stageLine), under Node: one
// line per stage whatever the model wrote, cut to a glance, dimmed only when asked (a terminal
// that takes colour). The shell itself runs in test/shells/deno.e2e.test.ts.
import { expect, test } from 'vitest';
import { stageLine } from '../../shells/deno/terminal.js';

test('a stage as one short line: what it wrote, listed or searched', () => {
  expect(stageLine({ type: 'node', node: 'hypothesis', kind: 'generate', text: ' Shield volcanoes\n\nhave  gentle slopes. ' })).toBe(
    '· hypothesis: Shield volcanoes have gentle slopes.\n',
  );
  expect(stageLine({ type: 'node', node: 'hypothesis', kind: 'generate', text: '' })).toBe('· hypothesis: (nothing)\n');
  expect(stageLine({ type: 'node', node: 'split', kind: 'split', items: ['What is a caldera?', 'How do they form?'] })).toBe(
    '· split: What is a caldera? | How do they form?\n',
  );
  expect(stageLine({ type: 'node', node: 'retrieve', kind: 'retrieve', queries: ['calderas', 'magma'], passages: [] })).toBe(
    '· retrieve: searched “calderas”, “magma”\n',
  );
  const long = stageLine({ type: 'node', node: 'draft', kind: 'generate', text: 'word '.repeat(60) });
  expect(long.length).toBe(101);
  expect(long.endsWith('…\n')).toBe(true);
  expect(stageLine({ type: 'node', node: 'draft', kind: 'generate', text: 'Yes.' }, true)).toBe('\x1b[2m· draft: Yes.\x1b[22m\n');
});
