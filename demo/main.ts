// The demo app (`npm start`): "Ask your documents" — drop a folder, ask, get cited answers, with a
// live timeline of the engine weaving search slices between decode steps — and the vector-search
// benchmark (IVF against exact search on this GPU). Add `?models=local` to the address to run with
// the offline reference generator and the small embedder served under models/.
import { setupAsk } from './ask.js';
import { setupBenchmark } from './bench.js';

const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role=tab]')];
const select = (tab: HTMLButtonElement) => {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    document.getElementById(t.getAttribute('aria-controls')!)!.hidden = !on;
  }
  history.replaceState(null, '', `${location.search}${tab.id === 'tab-bench' ? '#benchmark' : ''}`);
};
for (const t of tabs) {
  t.addEventListener('click', () => select(t));
  t.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(t);
    const next = e.key === 'ArrowRight' ? tabs[(i + 1) % tabs.length] : e.key === 'ArrowLeft' ? tabs[(i + tabs.length - 1) % tabs.length] : undefined;
    if (next) {
      next.focus();
      select(next);
    }
  });
}
if (location.hash === '#benchmark') select(tabs[1]!);

setupBenchmark();
setupAsk().catch((e: unknown) => {
  const status = document.querySelector('#engine-status')!;
  status.textContent = `The app could not start: ${e instanceof Error ? e.message : String(e)}`;
  status.classList.add('error');
});
