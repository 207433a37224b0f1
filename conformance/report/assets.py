"""The page's CSS and script, inlined so the report works offline from one file.

The script never inserts text from the data: it moves and shows server-rendered,
already escaped HTML, and reads only ``data-*`` attributes and ``textContent``.
"""

from __future__ import annotations

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 1.5em 3em;color:#1d1d1f}
h1{margin:.6em 0 .2em}h2{margin:1.2em 0 .4em;font-size:1.25em}h4{margin:1em 0 .3em}
.muted{color:#666}code{font-size:.92em}
.controls{position:sticky;top:0;background:#fff;padding:.5em 0;z-index:5;display:flex;
 flex-wrap:wrap;gap:.8em;align-items:center;border-bottom:1px solid #ddd}
.controls input[type=search]{min-width:18em;padding:3px 6px}
.fws label{margin-right:.4em}
.legend .cell{display:inline-block;padding:1px 6px;border-radius:3px}
.scroll{overflow-x:auto}
table{border-collapse:collapse}
.matrix{font-size:12.5px}.matrix td,.matrix th{border:1px solid #d5d5d5;padding:3px 6px}
.matrix th.beh{text-align:left;white-space:nowrap;background:#fafafa;position:sticky;left:0}
.matrix th.grp{background:#e9eef5;font-weight:600}
.matrix th.impl{vertical-align:bottom;background:#f4f6f9;font-weight:500;max-width:9em}
.matrix th.impl span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
.cell{text-align:center;cursor:pointer;white-space:nowrap}
.cell.empty{color:#bbb;cursor:default;background:#fcfcfc}
.a-yes{background:#d7f2d7}.a-no{background:#f7c9c9;font-weight:600}
.a-undocumented{background:#e3e6f7}.a-untested{background:#f6efcf}
.a-not_applicable{background:#eee;color:#777}.a-demonstration{background:#ecdcf3}
.a-unverified{background:#fbe3cf}.matrix th.recipe{background:#eee;font-style:italic}
.matrix th.demo{background:#f3e9f7}.tag{font-size:10px;color:#6a2c85}
.m-differs{outline:2px dashed #b35c00;outline-offset:-3px}.mk{color:#b35c00;font-weight:700}
.cell.dim{opacity:.18}.cell.sel{box-shadow:inset 0 0 0 2px #000}
tr.hidden,td.hidden,th.hidden,section.hidden{display:none}
#panel{position:fixed;top:0;right:0;width:min(48em,60vw);height:100vh;overflow:auto;
 background:#fff;border-left:2px solid #888;box-shadow:-4px 0 12px rgba(0,0,0,.15);
 padding:0 1.2em 2em;z-index:10}
#panel[hidden]{display:none}#panel .close{float:right;margin-top:1em}
.small{font-size:12px}.small td,.small th{border:1px solid #ddd;padding:2px 5px;
 vertical-align:top}
tr.chosen{background:#d7f2d7}.st-PASS{color:#1a7f1a}.st-MISMATCH,.st-ERROR,.st-CRASH,
.st-TIMEOUT{color:#b00020;font-weight:600}
blockquote{margin:.4em 0;padding:.3em .8em;border-left:3px solid #aab;background:#f6f6fa;
 white-space:pre-wrap}
pre.snippet,pre.code{background:#f4f4f4;padding:.6em;overflow:auto;max-height:24em;
 font-size:12px;white-space:pre}
.verified{color:#1a7f1a;font-weight:600}.failed{color:#b00020;font-weight:600}
.unchecked{color:#777}.not-run{color:#777}.approximate{color:#a15c00;font-weight:600}
svg.chart{background:#fff;margin:.3em 1em .3em 0}svg .ct{font-size:13px;font-weight:600}
svg .tick{font-size:10.5px;fill:#333}svg .frame{fill:none;stroke:#999}
svg .grid{stroke:#e5e5e5}svg .tol{stroke:#d62728;stroke-width:1.5}
svg .pass{fill:#1f77b4;fill-opacity:.65}svg .fail{fill:#d62728}
.figs{display:flex;flex-wrap:wrap}
"""

JS = r"""
(function(){
'use strict';
const $ = (s, r) => (r || document).querySelector(s);
const $$ = (s, r) => Array.from((r || document).querySelectorAll(s));
const panel = $('#panel'), body = $('#panel-body');
function openDetail(cell){
  const src = document.getElementById(cell.dataset.detail);
  if (!src) return;
  $$('.cell.sel').forEach(c => c.classList.remove('sel'));
  cell.classList.add('sel');
  body.replaceChildren(...Array.from(src.childNodes).map(n => n.cloneNode(true)));
  panel.hidden = false;
  panel.scrollTop = 0;
}
document.addEventListener('click', ev => {
  const cell = ev.target.closest('td.cell[data-detail]');
  if (cell) { openDetail(cell); return; }
  if (ev.target.closest('#panel .close')) { panel.hidden = true; return; }
  const copy = ev.target.closest('button.copy');
  if (copy) {
    const pre = copy.closest('h4').nextElementSibling;
    if (navigator.clipboard) navigator.clipboard.writeText(pre.textContent);
    copy.textContent = 'copied';
  }
});
document.addEventListener('keydown', ev => {
  if (ev.key === 'Escape') panel.hidden = true;
  if (ev.key === 'Enter' && ev.target.matches('td.cell[data-detail]')) openDetail(ev.target);
});
function fromHash(){  // index.html#d-3-momentum_convention (a convention card's link)
  const id = decodeURIComponent(location.hash.slice(1));
  const cell = id && $$('td.cell[data-detail]').find(c => c.dataset.detail === id);
  if (cell) { openDetail(cell); cell.scrollIntoView({block: 'center'}); }
}
window.addEventListener('hashchange', fromHash);
window.addEventListener('load', fromHash);
function bad(cells){
  return cells.filter(c => c.dataset.status === 'no').length * 2 +
         cells.filter(c => c.dataset.majority === 'differs').length;
}
function apply(){
  const op = $('#f-op').value, st = $('#f-status').value;
  const q = $('#q').value.trim().toLowerCase();
  const fws = new Set($$('input.fw:checked').map(i => i.value));
  $$('section.op').forEach(sec => {
    sec.classList.toggle('hidden', !!op && sec.dataset.op !== op);
    const heads = $$('th.impl', sec);
    const colMatch = heads.map(h => !q || h.title.toLowerCase().includes(q));
    const byHeader = q && colMatch.some(Boolean);
    const showCol = heads.map((h, i) => fws.has(h.dataset.fw) && (!byHeader || colMatch[i]));
    heads.forEach((h, i) => h.classList.toggle('hidden', !showCol[i]));
    $$('th.grp', sec).forEach(g => {
      const any = heads.some((h, i) => showCol[i] && h.dataset.fw === g.dataset.fw);
      g.classList.toggle('hidden', !any);
    });
    $$('tbody tr', sec).forEach(tr => {
      const cells = $$('td', tr);
      let any = false;
      cells.forEach((c, i) => {
        c.classList.toggle('hidden', !showCol[i]);
        const hit = !st || c.dataset.status === st ||
          (st === 'differs' && c.dataset.majority === 'differs');
        c.classList.toggle('dim', !hit);
        if (showCol[i] && hit && c.dataset.status !== 'none') any = true;
      });
      const shown = cells.filter((c, i) => showCol[i]).map(c => c.textContent);
      const text = (tr.dataset.behaviour + ' ' + shown.join(' ')).toLowerCase();
      const qHit = !q || byHeader || text.includes(q);
      tr.classList.toggle('hidden', !(qHit && (any || !st)));
    });
  });
}
function sortRows(){
  const how = $('#s-rows').value;
  $$('section.op tbody').forEach(tb => {
    const rows = $$('tr', tb);
    const key = tr => how === 'name' ? tr.dataset.behaviour :
      how === 'bad' ? -bad($$('td', tr)) : +tr.dataset.order;
    rows.sort((a, b) => { const x = key(a), y = key(b); return x < y ? -1 : x > y ? 1 : 0; });
    rows.forEach(r => tb.appendChild(r));
  });
}
function sortCols(){
  const how = $('#s-cols').value;
  $$('section.op').forEach(sec => {
    const headRow = $$('thead tr', sec)[1], heads = $$('th.impl', sec);
    const rows = $$('tbody tr', sec);
    const cellsOf = i => rows.map(r => $$('td', r)[i]);
    const key = i => how === 'name' ? heads[i].textContent :
      how === 'bad' ? -bad(cellsOf(i)) : +heads[i].dataset.col;
    const idx = heads.map((_, i) => i);
    idx.sort((a, b) => { const x = key(a), y = key(b); return x < y ? -1 : x > y ? 1 : 0; });
    const perRow = rows.map(r => $$('td', r));
    idx.forEach(i => headRow.appendChild(heads[i]));
    rows.forEach((r, k) => idx.forEach(i => r.appendChild(perRow[k][i])));
    $('tr.groups', sec).classList.toggle('hidden', how !== 'order');
  });
  apply();
}
['#f-op', '#f-status'].forEach(s => $(s).addEventListener('change', apply));
$$('input.fw').forEach(i => i.addEventListener('change', apply));
$('#q').addEventListener('input', apply);
$('#s-rows').addEventListener('change', sortRows);
$('#s-cols').addEventListener('change', sortCols);
})();
"""
