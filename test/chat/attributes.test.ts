// <weft-chat>'s workflow as the element takes it (src/chat/attributes.ts chatWorkflow), under Node:
// none for an empty attribute, a built-in's name, a graph that passes the checks; INVALID_WORKFLOW
// worded for the element otherwise. The element itself: test/chat/weft-chat.browser.test.ts.
import { expect, test } from 'vitest';
import { chatWorkflow } from '../../src/chat/attributes.js';
import { BUILTIN_WORKFLOWS } from '../../src/workflow/builtins.js';

test('none, a built-in name, or a graph that could run', () => {
  for (const none of [undefined, null, '', '  ']) expect(chatWorkflow(none)).toBeUndefined();
  expect(chatWorkflow('hyde')).toBe('hyde');
  expect(chatWorkflow(' irg ')).toBe('irg');
  const graph = JSON.parse(JSON.stringify(BUILTIN_WORKFLOWS.recomp));
  expect(chatWorkflow(graph)).toBe(graph);
});

test('an unknown name lists the built-ins; a graph that could not run says why, for the element', () => {
  expect(() => chatWorkflow('HyDE')).toThrow(
    expect.objectContaining({
      code: 'INVALID_WORKFLOW',
      message: `<weft-chat workflow="HyDE">: there is no built-in workflow 'HyDE'. Use one of one-shot, hyde, multistep, irg, recomp, flare, periodic, or set the workflow property to a graph.`,
    }),
  );
  const broken = { ...JSON.parse(JSON.stringify(BUILTIN_WORKFLOWS.hyde)), edges: [] };
  expect(() => chatWorkflow(broken)).toThrow(
    expect.objectContaining({
      code: 'INVALID_WORKFLOW',
      message: expect.stringMatching(/^<weft-chat>'s workflow property: Workflow 'hyde': node 'hypothesis' has no edge/),
    }),
  );
  expect(() => chatWorkflow(42)).toThrow(expect.objectContaining({ code: 'INVALID_WORKFLOW' }));
});
