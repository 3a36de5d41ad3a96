import 'weft-rag/chat';                          // registers <weft-chat> and types it on querySelector

const chat = document.querySelector('weft-chat')!;
chat.addEventListener('weft-answer', (e) => console.log(e.detail.answer, e.detail.citations));
await chat.ingest([new File(['# Launch\nWe decided to launch in May.'], 'launch.md', { type: 'text/markdown' })]);
await chat.ask('What did we decide about the launch?');
