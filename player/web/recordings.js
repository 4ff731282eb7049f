// The replays page: lists the recordings (the studio's /recordings.json, or
// the stack's JSON index) and plays the one chosen with
// <ivs-ad-player recording="...">. With the report token in the URL
// (#token=..., as the studio prints it), each recording's counts come from
// the measurement report: the impressions and scans of the shows its cues
// carried, live and in replays. Kept out of the HTML: the page's CSP allows
// no inline script.
import './player.js';

const box = document.getElementById('replay');
const rows = document.querySelector('#recordings tbody');
const status = document.getElementById('status');

const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
// Only recordings from the index's own origin are played.
const sameOrigin = (url) => {
  try {
    return new URL(url, document.baseURI).origin === location.origin;
  } catch {
    return false;
  }
};

function play(recording) {
  const player = document.createElement('ivs-ad-player');
  player.setAttribute('recording', recording);
  if (box.dataset.catalog) player.setAttribute('catalog', box.dataset.catalog);
  if (box.dataset.collector) player.setAttribute('collector', box.dataset.collector);
  box.replaceChildren(player);
}

// The report's rows, when the page was given the token; else none.
async function reportRows() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!token || !box.dataset.report) return undefined;
  try {
    const res = await fetch(box.dataset.report, { headers: { authorization: `Bearer ${token}` }, cache: 'no-cache' });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

function counts(rows, shows) {
  // The studio's report needs its token; the stack's counts are on its
  // dashboard (IAM sign-in).
  if (!rows) return box.dataset.report ? 'with the report token' : 'on the dashboard';
  const ids = new Set((shows ?? []).map((s) => `${s.channel}.${s.show}`));
  const sum = (audience) => {
    const of = rows.filter((r) => (r.audience ?? 'live') === audience && ids.has(`${r.channel}.${r.show}`));
    const n = (k) => of.reduce((t, r) => t + r[k], 0);
    return `${n('impressions')} impressions, ${n('scans')} scans`;
  };
  return `${sum('live')} · ${sum('replay')}`;
}

async function list() {
  let recordings;
  try {
    const res = await fetch(box.dataset.index, { cache: 'no-cache' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    recordings = await res.json();
  } catch (e) {
    status.textContent = `The recordings could not be listed (${e.message ?? e}).`;
    return;
  }
  status.textContent = recordings.length ? '' : 'No recording yet: a stream is recorded from its start to its end.';
  const rowsOfReport = await reportRows();
  for (const r of recordings) {
    const row = rows.insertRow();
    row.insertCell().textContent = (r.started_at ?? '').replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
    row.insertCell().textContent = clock(r.duration_secs ?? 0);
    row.insertCell().textContent = (r.products ?? []).join(', ') || 'none';
    row.insertCell().textContent = counts(rowsOfReport, r.shows);
    const link = document.createElement('a');
    link.href = `?recording=${encodeURIComponent(r.playlist)}${location.hash}`;
    link.textContent = 'Play replay';
    row.insertCell().append(link);
  }
}

const chosen = new URLSearchParams(location.search).get('recording');
if (chosen && sameOrigin(chosen)) play(chosen);
list();
