// Client-side search over window.SEARCH_INDEX (assets/search_index.js): works from file:// with nothing fetched.
(function () {
  const input = document.getElementById('search'), list = document.getElementById('search-results');
  if (!input || !list) return;
  const index = window.SEARCH_INDEX || [];
  const esc = s => s.replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
  let sel = -1, hits = [];

  function score(e, terms, q) {
    const t = e.t.toLowerCase(), x = (e.x || '').toLowerCase(), p = (e.p || '').toLowerCase();
    let s = 0;
    for (const w of terms) {
      if (t === w) s += 100; else if (t.startsWith(w) || t.endsWith('.' + w)) s += 50;
      else if (t.includes(w)) s += 25; else if (p.includes(w)) s += 5; else if (x.includes(w)) s += 2; else return 0;
    }
    if (t === q) s += 200;
    if (e.k !== 'section' && e.k !== 'page') s += 5;
    return s;
  }
  function search(q) {
    q = q.trim().toLowerCase();
    if (!q) return [];
    const terms = q.split(/\s+/);
    return index.map(e => [score(e, terms, q), e]).filter(a => a[0] > 0)
      .sort((a, b) => b[0] - a[0] || a[1].t.length - b[1].t.length).slice(0, 15).map(a => a[1]);
  }
  function show() {
    hits = search(input.value); sel = hits.length ? 0 : -1;
    if (!input.value.trim()) { list.hidden = true; list.innerHTML = ''; return; }
    list.innerHTML = hits.length ? hits.map((e, i) =>
      `<li${i === sel ? ' class="sel"' : ''}><a href="${esc(e.u)}"><span class="r-title">${esc(e.t)}</span>` +
      `<span class="r-kind">${esc(e.k)}${e.p && e.p !== e.t ? ' · ' + esc(e.p) : ''}</span>` +
      (e.x ? `<span class="r-text">${esc(e.x)}</span>` : '') + '</a></li>').join('')
      : '<li class="none">No results</li>';
    const r = input.getBoundingClientRect();  // the list is fixed: the sidebar would clip it
    list.style.top = (r.bottom + 4) + 'px'; list.style.left = r.left + 'px';
    list.hidden = false;
  }
  function mark() { [...list.children].forEach((li, i) => li.classList.toggle('sel', i === sel)); }
  input.addEventListener('input', show);
  input.addEventListener('focus', () => { if (input.value.trim()) show(); });
  input.addEventListener('keydown', ev => {
    if (ev.key === 'ArrowDown' && hits.length) { sel = (sel + 1) % hits.length; mark(); ev.preventDefault(); }
    else if (ev.key === 'ArrowUp' && hits.length) { sel = (sel - 1 + hits.length) % hits.length; mark(); ev.preventDefault(); }
    else if (ev.key === 'Enter' && sel >= 0) { location.href = hits[sel].u; ev.preventDefault(); }
    else if (ev.key === 'Escape') { list.hidden = true; input.blur(); }
  });
  document.addEventListener('click', ev => { if (!ev.target.closest('.search')) list.hidden = true; });
  document.addEventListener('keydown', ev => {
    if (ev.key === '/' && document.activeElement !== input) { input.focus(); ev.preventDefault(); }
  });
})();
