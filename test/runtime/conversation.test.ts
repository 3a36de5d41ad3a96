// Conversations: checking generate()'s input, the prompt's messages, the follow-up search query
// and the rewrite prompt — the pure parts of multi-turn chat.
import { describe, expect, test } from 'vitest';
import { answerMessages, cleanRewrite, readDialogue, rewriteMessages, searchQuery, trimHistory } from '../../src/runtime/conversation.js';
import { defaultPromptTemplate } from '../../src/runtime/answer-context.js';
import type { ChatMessage, Passage } from '../../src/runtime/types.js';

const chat: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Tell me about the three kinds of volcano.' },
  { role: 'assistant', content: 'Shield volcanoes, cinder cones and stratovolcanoes [1].' },
  { role: 'user', content: 'and what about the second one?' },
];
const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

describe('conversations', () => {
  test("a question or a conversation becomes history + question; the system prompt goes first, joined with the conversation's own", () => {
    expect(readDialogue('Why?')).toEqual({ history: [], question: 'Why?' });
    expect(readDialogue('Why?', 'Cite.')).toEqual({ history: [{ role: 'system', content: 'Cite.' }], question: 'Why?' });
    const d = readDialogue({ messages: chat }, 'Answer in English.');
    expect(d.question).toBe('and what about the second one?');
    expect(d.history.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    expect(d.history[0]!.content).toBe('Answer in English.\n\nBe brief.');
    expect(readDialogue({ messages: chat.slice(1) }, 'S').history[0]).toEqual({ role: 'system', content: 'S' });
    // The caller's array is not changed.
    expect(chat).toHaveLength(4);
  });

  test('malformed conversations are refused with INVALID_INPUT', () => {
    for (const bad of [
      { messages: [] },
      { messages: chat.slice(0, 3) },
      { messages: [{ role: 'tool', content: 'x' }] },
      { messages: [{ role: 'user' }] },
      {},
    ]) {
      expect(() => readDialogue(bad as never)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });

  test('the passages go into the last user turn; earlier turns are kept as they were', () => {
    const d = readDialogue({ messages: chat });
    const passages: Passage[] = [{ citation: 1, id: 7, score: 0.9, scores: { vector: 0.9 }, docId: 'v.md', text: 'Cinder cones are small.', metadata: {} }];
    const m = answerMessages(d, defaultPromptTemplate, passages);
    expect(m.slice(0, 3)).toEqual(chat.slice(0, 3));
    expect(m[3]).toEqual({ role: 'user', content: defaultPromptTemplate(passages, 'and what about the second one?') });
    expect(m[3]!.content).toContain('[1] Cinder cones are small.');
  });

  test("a follow-up's query is the question, then the recent turns newest first, cut to what fits; 0 turns is the question alone", () => {
    const d = readDialogue({ messages: chat });
    const all = searchQuery(d, 4, () => true);
    expect(all.split('\n')).toEqual([
      'and what about the second one?',
      'Shield volcanoes, cinder cones and stratovolcanoes.',
      'Tell me about the three kinds of volcano.',
    ]);
    expect(all).not.toContain('[1]');
    expect(all).not.toContain('Be brief'); // the system prompt says nothing about the subject
    expect(searchQuery(d, 0, () => true)).toBe(d.question);
    expect(searchQuery(d, 1, () => true).split('\n')).toHaveLength(2);
    // A budget of 10 words: the question (6) and the first 4 words of the answer.
    const cut = searchQuery(d, 4, (q) => words(q) <= 10);
    expect(cut).toBe('and what about the second one?\nShield volcanoes, cinder cones');
    expect(searchQuery(readDialogue('alone'), 4, () => true)).toBe('alone');
  });

  test('long conversations lose their oldest turns first, never the system prompt', () => {
    const d = readDialogue({ messages: chat });
    const trimmed = trimHistory(d, (x) => x.history.length <= 2);
    expect(trimmed.history).toEqual([chat[0], chat[2]]);
    expect(trimHistory(d, () => true)).toBe(d);
    expect(trimHistory(d, () => false).history).toEqual([chat[0]]);
  });

  test('the rewrite prompt shows the recent turns and the question, dropping the oldest until it fits; the reply is cleaned to one line', () => {
    const d = readDialogue({ messages: chat });
    const m = rewriteMessages(d, 4, 'Rewrite.', () => true);
    expect(m[0]).toEqual({ role: 'system', content: 'Rewrite.' });
    expect(m[1]!.content).toBe(
      'Conversation:\nUser: Tell me about the three kinds of volcano.\nAssistant: Shield volcanoes, cinder cones and stratovolcanoes.\n\nLast question: and what about the second one?',
    );
    const short = rewriteMessages(d, 4, 'Rewrite.', (x) => !x[1]!.content.includes('three kinds'));
    expect(short[1]!.content).not.toContain('User:');
    expect(cleanRewrite('\n  Query: "cinder cone volcanoes"\nmore')).toBe('cinder cone volcanoes');
    expect(cleanRewrite('"\nvolcano kinds')).toBe('volcano kinds'); // a line of quotes alone says nothing
    expect(cleanRewrite('  \n ')).toBe('');
  });
});
