// Conversations: what generate() is asked (one question, or the turns of a chat ending with the
// user's question) checked and put in one shape; the messages an answer's prompt is made of (the
// earlier turns as they were, the passages in the last user turn); the search query a follow-up
// question is retrieved with (the question plus the recent turns, newest first, within the
// embedder's length); and the prompt that asks the generator to rewrite a follow-up into a
// standalone query. Pure functions: the runtime supplies the token counts.

import { WeftError } from '../errors.js';
import type { ChatMessage } from '../generate/types.js';
import type { GenerateInput, Passage, PromptTemplate } from './types.js';

/** A request's conversation, checked: the turns before the question (a system prompt first, if any) and the question. */
export interface Dialogue {
  history: ChatMessage[];
  question: string;
}

const ROLES: readonly ChatMessage['role'][] = ['system', 'user', 'assistant'];

/** The conversation `input` holds, with `system` first; INVALID_INPUT for a malformed one. */
export function readDialogue(input: GenerateInput, system?: string): Dialogue {
  const sys = system?.trim() ? [{ role: 'system' as const, content: system }] : [];
  if (typeof input === 'string') {
    return { history: sys, question: input };
  }
  const messages = typeof input === 'object' && input !== null ? (input as { messages?: unknown }).messages : undefined;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new WeftError(
      'INVALID_INPUT',
      "generate() takes a question (a string) or { messages: [...] }, a non-empty array of { role, content } ending with the user's question.",
    );
  }
  messages.forEach((m: unknown, i) => {
    const { role, content } = (typeof m === 'object' && m !== null ? m : {}) as Partial<ChatMessage>;
    if (!ROLES.includes(role as ChatMessage['role']) || typeof content !== 'string') {
      throw new WeftError('INVALID_INPUT', `Message ${i} must be { role: 'system' | 'user' | 'assistant', content: string }.`, { details: { index: i } });
    }
  });
  const turns = (messages as ChatMessage[]).map((m) => ({ role: m.role, content: m.content }));
  const last = turns.pop()!;
  if (last.role !== 'user') {
    throw new WeftError('INVALID_INPUT', `The conversation must end with the user's question (a 'user' message); its last message is the ${last.role}'s.`);
  }
  // One leading system message: the runtime's or the call's prompt, then the conversation's own.
  if (sys.length > 0 && turns[0]?.role === 'system') turns[0] = { role: 'system', content: `${system!}\n\n${turns[0].content}` };
  else turns.unshift(...sys);
  return { history: turns, question: last.content };
}

/** The conversation as the generator is to see it: the passages and the question in the last user turn. */
export function answerMessages(d: Dialogue, template: PromptTemplate, passages: readonly Passage[]): ChatMessage[] {
  return [...d.history, { role: 'user', content: template(passages, d.question) }];
}

/** The earlier turns (not the system prompt), oldest first. */
const earlierTurns = (d: Dialogue) => d.history.filter((m) => m.role !== 'system');

/**
 * Drops the oldest turns (never the system prompt) until `fits` accepts the dialogue, e.g. until
 * the prompt without passages leaves room for the passages and the answer.
 */
export function trimHistory(d: Dialogue, fits: (d: Dialogue) => boolean): Dialogue {
  let history = d.history;
  while (!fits({ history, question: d.question })) {
    const oldest = history.findIndex((m) => m.role !== 'system');
    if (oldest < 0) break;
    history = history.filter((_, i) => i !== oldest);
  }
  return history === d.history ? d : { history, question: d.question };
}

/** Citation marks ("[2]") say nothing about the subject; they only add noise to a query. */
const withoutCitations = (text: string) =>
  text
    .replace(/\s*\[\d+\]/g, '')
    .replace(/\s+/g, ' ')
    .trim();

/** The longest prefix of `text`'s words that `fits` accepts after `head` ('' if none). */
function fitWords(head: string, text: string, fits: (query: string) => boolean): string {
  const words = text.split(' ');
  let lo = 0,
    hi = words.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(`${head}\n${words.slice(0, mid).join(' ')}`)) lo = mid;
    else hi = mid - 1;
  }
  return words.slice(0, lo).join(' ');
}

/**
 * The search query for a conversation: the question, then up to `turns` earlier messages newest
 * first, as many as `fits` accepts (the embedder's length; the first one that does not fit is
 * cut to what does), so that the question and the latest context are what the embedding sees.
 */
export function searchQuery(d: Dialogue, turns: number, fits: (query: string) => boolean): string {
  let query = d.question;
  const recent = turns > 0 ? earlierTurns(d).slice(-turns).reverse() : [];
  for (const m of recent) {
    const text = withoutCitations(m.content);
    if (!text) continue;
    if (fits(`${query}\n${text}`)) {
      query = `${query}\n${text}`;
      continue;
    }
    const part = fitWords(query, text, fits);
    if (part) query = `${query}\n${part}`;
    break;
  }
  return query;
}

/**
 * The instruction that asks the generator to rewrite a follow-up question into a standalone search
 * query (`rewrite: true`).
 */
export const DEFAULT_REWRITE_INSTRUCTION =
  'Rewrite the last question of this conversation as one standalone search query that names what it is about. Reply with the query only.';

/**
 * The prompt asking for the rewrite: the instruction, then the recent turns as a transcript and
 * the question; the oldest turns are left out until `fits` accepts it.
 */
export function rewriteMessages(d: Dialogue, turns: number, instruction: string, fits: (messages: ChatMessage[]) => boolean): ChatMessage[] {
  const lines = earlierTurns(d)
    .slice(-Math.max(1, turns))
    .map((m) => `${m.role === 'user' ? 'User' : 'Assistant'}: ${withoutCitations(m.content)}`);
  const build = (from: number): ChatMessage[] => [
    { role: 'system', content: instruction },
    { role: 'user', content: `Conversation:\n${lines.slice(from).join('\n')}\n\nLast question: ${d.question}` },
  ];
  let from = 0;
  while (from < lines.length && !fits(build(from))) from++;
  return build(from);
}

/** The query in a rewrite's text: its first line that says something once quotes and a "Query:" label are taken off ('' if none). */
export function cleanRewrite(text: string): string {
  const clean = (line: string) =>
    line
      .trim()
      .replace(/^(standalone |search )?query:\s*/i, '')
      .replace(/^["'“”]+|["'“”]+$/g, '')
      .trim();
  return (
    text
      .split('\n')
      .map(clean)
      .find((l) => l !== '') ?? ''
  );
}

/** Whether a dialogue has turns before its question (a follow-up, which the rewrite applies to). */
export const isFollowUp = (d: Dialogue) => earlierTurns(d).length > 0;
