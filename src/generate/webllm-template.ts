// A WebLLM model's conversation template (the `conv_template` of its mlc-chat-config.json, with
// `conv_config` over it) rendered as prompt text, the way WebLLM's Conversation.getPromptArray()
// renders a chat completion request (web-llm src/conversation.ts): the system prompt, each turn
// as role + separator + content + seps[i % seps.length], then the assistant's reply header. The
// system prefix tokens (e.g. Llama-3's <|begin_of_text|>) are ids, not text: the adapter
// prefills them before the text at position 0, as WebLLM's getInputData() does.

import { WeftError } from '../errors.js';
import type { ChatMessage } from './types.js';

/** The fields of WebLLM's ConvTemplateConfig that rendering and stopping use. */
export interface WebLlmConvTemplate {
  system_template: string;
  system_message: string;
  roles: Partial<Record<'user' | 'assistant' | 'tool', string>>;
  role_templates?: Partial<Record<'user' | 'assistant' | 'tool', string>> | undefined;
  seps: string[];
  role_content_sep?: string | undefined;
  role_empty_sep?: string | undefined;
  add_role_after_system_message?: boolean | undefined;
  system_prefix_token_ids?: number[] | null | undefined;
  stop_str?: string[] | undefined;
  stop_token_ids?: number[] | undefined;
}

const PLACEHOLDER = { system: '{system_message}', user: '{user_message}', assistant: '{assistant_message}', function: '{function_string}' } as const;

// WebLLM fills placeholders with String.prototype.replace and a string, which would also expand
// `$&`, `$1`… in a message; a function replacer inserts the text as it is.
const fill = (template: string, placeholder: string, text: string) => template.replace(placeholder, () => text);

/** `sep ?? ': '` as WebLLM reads role_content_sep and role_empty_sep ('' is kept). */
const sepOr = (sep: string | undefined) => (sep || sep === '' ? sep : ': ');

/**
 * The conversation as the model's prompt text, ending with the assistant's reply header. A
 * system message may only come first (it replaces the template's system_message, as WebLLM's
 * override_system_message does).
 */
export function renderConversation(template: WebLlmConvTemplate, messages: readonly ChatMessage[]): string {
  if (template.seps.length === 0)
    throw new WeftError('INVALID_MODEL', "The model's conv_template has no seps; its mlc-chat-config.json is not a WebLLM chat config.");
  const misplaced = messages.findIndex((m, i) => m.role === 'system' && i > 0);
  if (misplaced > 0)
    throw new WeftError('INVALID_INPUT', `A system message may only be the first message; message ${misplaced} is one. Put the system prompt first.`);
  const system = messages[0]?.role === 'system' ? messages[0] : undefined;
  const systemMessage = system ? system.content : template.system_message;
  const turns = system ? messages.slice(1) : messages;
  const systemPrompt = fill(template.system_template, PLACEHOLDER.system, systemMessage);
  let out = systemPrompt;
  turns.forEach((m, i) => {
    const role = m.role as 'user' | 'assistant';
    const roleStr = template.roles[role];
    if (roleStr === undefined) throw new WeftError('INVALID_INPUT', `This model's conversation template has no '${role}' role.`);
    let content = m.content;
    const roleTemplate = template.role_templates?.[role];
    if (roleTemplate !== undefined) content = fill(fill(roleTemplate, PLACEHOLDER[role], m.content), PLACEHOLDER.function, '');
    const prefix = template.add_role_after_system_message === false && systemPrompt !== '' && i === 0 ? '' : roleStr + sepOr(template.role_content_sep);
    out += prefix + content + template.seps[i % template.seps.length]!;
  });
  const assistant = template.roles.assistant;
  if (assistant === undefined) throw new WeftError('INVALID_MODEL', "The model's conversation template has no assistant role.");
  return out + assistant + sepOr(template.role_empty_sep);
}
