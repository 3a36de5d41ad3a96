// `weft-rag/chat`: the <weft-chat> web component. Importing this entry registers the element
// (once; an app that already defined 'weft-chat' keeps its own). It pulls Lit and the engine
// worker's client into the page; apps that do not use the element never load either.

import { WeftChat, type WeftChatEventMap } from '../chat/weft-chat.js';

export {
  WeftChat,
  type ChatTurn,
  type ChatProgress,
  type ChatError,
  type ChatEvent,
  type AskOptions,
  type ChatIngestOptions,
  type DoneEvent,
  type WeftChatEventMap,
  type ChatIngested,
  type ChatRuntimeFactory,
  type SearchOnlyNote,
} from '../chat/weft-chat.js';
export { DEFAULT_CHAT_MODEL } from '../chat/attributes.js';
export { sourceLabel } from '../chat/citation-marks.js';

if (!customElements.get('weft-chat')) customElements.define('weft-chat', WeftChat);

declare global {
  interface HTMLElementTagNameMap {
    'weft-chat': WeftChat;
  }
  // The element's events, typed on the element and where they bubble to.
  interface HTMLElementEventMap extends WeftChatEventMap {}
  interface DocumentEventMap extends WeftChatEventMap {}
}
