// <weft-chat>'s stylesheet. Colours come from the --weft-* custom properties an app may set, with
// a light and a dark default each; `theme="auto"` (the default) follows prefers-color-scheme.

import { css } from 'lit';

/** The dark theme's defaults: for theme="dark", and for "auto" when the system prefers dark. */
const dark = css`
  --_accent: var(--weft-accent, #5b9bff);
  --_accent-fg: var(--weft-accent-fg, #0b1220);
  --_bg: var(--weft-bg, #0f141b);
  --_fg: var(--weft-fg, #e6edf3);
  --_muted: var(--weft-muted, #9aa4af);
  --_surface: var(--weft-surface, #19212b);
  --_border: var(--weft-border, #2f3a46);
  --_user-bg: var(--weft-user-bg, #1b2c47);
  --_danger: var(--weft-danger, #ff8a80);
  color-scheme: dark;
`;

export const styles = css`
  :host {
    --_accent: var(--weft-accent, #2563eb);
    --_accent-fg: var(--weft-accent-fg, #ffffff);
    --_bg: var(--weft-bg, #ffffff);
    --_fg: var(--weft-fg, #1f2328);
    --_muted: var(--weft-muted, #59636e);
    --_surface: var(--weft-surface, #f3f5f8);
    --_border: var(--weft-border, #d1d9e0);
    --_user-bg: var(--weft-user-bg, #e7efff);
    --_danger: var(--weft-danger, #b42318);
    --_radius: var(--weft-radius, 10px);
    --_font: var(--weft-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    display: block;
    position: relative;
    height: 36rem;
    color-scheme: light;
    font: 15px/1.5 var(--_font);
    color: var(--_fg);
  }
  :host([hidden]) { display: none; }
  :host([theme='dark']) { ${dark} }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme='light'])) { ${dark} }
  }

  * { box-sizing: border-box; }
  .frame {
    position: relative;
    display: flex; flex-direction: column;
    height: 100%;
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    overflow: hidden;
  }
  .sr-only {
    position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
    overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
  }

  button {
    font: inherit; font-size: 0.9em;
    color: var(--_fg); background: var(--_surface);
    border: 1px solid var(--_border); border-radius: calc(var(--_radius) * 0.7);
    padding: 0.35em 0.8em; cursor: pointer;
  }
  button:hover:not(:disabled) { border-color: var(--_accent); }
  button:disabled { opacity: 0.5; cursor: default; }
  button.primary { background: var(--_accent); color: var(--_accent-fg); border-color: var(--_accent); font-weight: 600; }
  button:focus-visible, textarea:focus-visible {
    outline: 2px solid var(--_accent); outline-offset: 2px;
  }

  header {
    display: flex; align-items: center; gap: 0.75rem;
    padding: 0.6rem 0.8rem;
    border-bottom: 1px solid var(--_border);
  }
  .status { flex: 1; min-width: 0; display: flex; align-items: center; gap: 0.5rem; color: var(--_muted); font-size: 0.88em; }
  .status .dot { flex: none; width: 0.55rem; height: 0.55rem; border-radius: 50%; background: var(--_muted); }
  .status .dot[data-state='ready'] { background: #2da44e; }
  .status .dot[data-state='loading'] { background: #d4a72c; }
  .status .dot[data-state='error'] { background: var(--_danger); }
  .status span:last-child { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .actions { display: flex; gap: 0.5rem; flex: none; }
  input[type='file'] { display: none; }

  .progress {
    display: grid; grid-template-columns: auto 1fr auto; gap: 0.3rem 0.6rem; align-items: center;
    padding: 0.55rem 0.8rem; border-bottom: 1px solid var(--_border);
    background: var(--_surface); font-size: 0.82em; color: var(--_muted);
  }
  .progress .title { grid-column: 1 / -1; color: var(--_fg); font-weight: 600; display: flex; justify-content: space-between; align-items: center; }
  .progress .num { font-variant-numeric: tabular-nums; text-align: right; min-width: 5.5em; }
  .progress .waiting { opacity: 0.55; }
  progress { width: 100%; height: 0.5rem; accent-color: var(--_accent); }

  .notice, .error {
    display: flex; align-items: flex-start; gap: 0.6rem;
    margin: 0.6rem 0.8rem 0; padding: 0.45rem 0.7rem;
    border-radius: calc(var(--_radius) * 0.7); font-size: 0.88em;
  }
  .notice { background: var(--_surface); color: var(--_muted); }
  .error { border: 1px solid var(--_danger); color: var(--_danger); }
  .notice span, .error span { flex: 1; }
  .notice button, .error button { padding: 0.05em 0.5em; }

  .conversation {
    flex: 1; min-width: 0; overflow-y: auto;
    padding: 1rem 0.8rem; display: flex; flex-direction: column; gap: 0.9rem;
  }
  .empty { margin: auto; max-width: 26rem; text-align: center; color: var(--_muted); }
  .empty strong { display: block; color: var(--_fg); font-size: 1.05em; margin-bottom: 0.3rem; }
  .empty.failed strong { color: var(--_danger); }
  textarea:disabled { opacity: 0.6; }
  .message { display: flex; flex-direction: column; max-width: 88%; }
  .message.user { align-self: flex-end; align-items: flex-end; }
  .message.assistant { align-self: flex-start; }
  .who { font-size: 0.75em; color: var(--_muted); margin: 0 0.2rem 0.15rem; }
  .bubble {
    padding: 0.55rem 0.8rem; border-radius: var(--_radius);
    white-space: pre-wrap; overflow-wrap: anywhere;
  }
  .user .bubble { background: var(--_user-bg); border-bottom-right-radius: 3px; }
  .assistant .bubble { background: var(--_surface); border-bottom-left-radius: 3px; }
  .bubble .placeholder { color: var(--_muted); font-style: italic; }
  .caret { display: inline-block; width: 0.5em; height: 1em; vertical-align: text-bottom; background: var(--_accent); margin-left: 1px; animation: blink 1s steps(1) infinite; }
  @keyframes blink { 50% { opacity: 0; } }
  @media (prefers-reduced-motion: reduce) { .caret { animation: none; } }
  button.cite {
    padding: 0 0.3em; margin: 0 0.05em; font-size: 0.8em; line-height: 1.3;
    vertical-align: baseline; color: var(--_accent); background: transparent; border-color: var(--_accent);
  }
  .sources { display: flex; flex-wrap: wrap; align-items: center; gap: 0.35rem; margin-top: 0.4rem; font-size: 0.85em; }
  .sources .label { color: var(--_muted); font-size: 0.9em; }
  .sources button { padding: 0.1em 0.55em; max-width: 16rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .sources button .n { color: var(--_accent); font-weight: 600; margin-right: 0.3em; }
  .sources button.cited { border-color: var(--_accent); }
  /* A workflow's stages before the answer: one muted line, opened on demand. */
  .stages { font-size: 0.78em; color: var(--_muted); margin: 0 0.2rem 0.3rem; }
  .stages summary { cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; border-radius: 3px; }
  .stages summary:hover { color: var(--_fg); }
  .stages summary:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
  .stages > ol { margin: 0.35rem 0 0.1rem; padding: 0.4rem 0.6rem 0.4rem 1.8em; border-left: 2px solid var(--_border); }
  .stages li { margin: 0.15rem 0; overflow-wrap: anywhere; }
  .stages ul { margin: 0.1rem 0 0; padding-left: 1.1em; }
  .stages .node { color: var(--_fg); font-weight: 600; }
  .stages q { white-space: pre-wrap; font-style: italic; }
  .meta { font-size: 0.75em; color: var(--_muted); margin: 0.25rem 0.2rem 0; }
  .meta.failed { color: var(--_danger); }

  form {
    display: flex; gap: 0.5rem; align-items: flex-end;
    padding: 0.6rem 0.8rem; border-top: 1px solid var(--_border);
  }
  textarea {
    flex: 1; resize: none; min-height: 2.5rem; max-height: 8rem;
    font: inherit; color: var(--_fg); background: var(--_bg);
    border: 1px solid var(--_border); border-radius: calc(var(--_radius) * 0.7);
    padding: 0.45rem 0.65rem;
  }
  textarea::placeholder { color: var(--_muted); }
  form button { height: 2.5rem; padding: 0 1.1rem; }

  .main { flex: 1; min-height: 0; display: flex; position: relative; container-type: inline-size; }
  .panel {
    flex: none; width: clamp(15rem, 40%, 24rem);
    display: flex; flex-direction: column;
    background: var(--_bg); border-left: 1px solid var(--_border);
  }
  /* Too narrow to sit beside the conversation: the source slides over it. */
  @container (max-width: 36rem) {
    .panel { position: absolute; inset: 0 0 0 auto; width: min(24rem, 92%); box-shadow: -8px 0 24px rgb(0 0 0 / 0.18); z-index: 2; }
  }
  .panel header { align-items: flex-start; }
  .panel h2 { flex: 1; margin: 0; font-size: 0.95em; line-height: 1.4; overflow-wrap: anywhere; }
  .panel h2 .n { color: var(--_accent); margin-right: 0.35em; }
  .panel .doc { display: block; font-weight: normal; font-size: 0.8em; color: var(--_muted); }
  .panel .body { flex: 1; overflow-y: auto; padding: 0.8rem; }
  .panel .passage { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.92em; }
  .panel .score { margin: 0.8rem 0 0; font-size: 0.78em; color: var(--_muted); }

  .drop {
    position: absolute; inset: 0; z-index: 3; display: grid; place-items: center;
    background: color-mix(in srgb, var(--_bg) 85%, transparent);
    border: 2px dashed var(--_accent); border-radius: var(--_radius);
    color: var(--_fg); font-weight: 600; pointer-events: none;
  }
`;
