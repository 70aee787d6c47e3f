// wagate admin page: plain JavaScript over /admin/api. Everything user-supplied is inserted as
// text (never as HTML). State-changing requests carry the CSRF token the login returned.
'use strict';

const $ = (sel) => document.querySelector(sel);
let csrf = null;
let users = [];
let keysUser = null;
let linkTimer = null;
let listTimer = null;

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const resp = await fetch('/admin/api/' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = await resp.json().catch(() => ({ success: false, message: 'HTTP ' + resp.status }));
  if (resp.status === 401 && path !== 'login') {
    showLogin();
  }
  if (!data.success) {
    const err = new Error(data.message || 'HTTP ' + resp.status);
    err.code = data.error_code;
    throw err;
  }
  return data.data;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function button(label, onClick, cls) {
  const b = el('button', label, 'small ' + (cls || ''));
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

function when(t) {
  return t ? new Date(t).toLocaleString() : '—';
}

function flash(msg, bad) {
  const f = $('#flash');
  f.textContent = msg;
  f.className = 'flash' + (bad ? ' bad' : '');
  f.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { f.hidden = true; }, 5000);
}

async function guarded(fn) {
  try {
    await fn();
  } catch (e) {
    flash(e.message, true);
  }
}

// --- login ----------------------------------------------------------------------------------

function showLogin() {
  csrf = null;
  clearInterval(listTimer);
  clearInterval(linkTimer);
  $('#app-view').hidden = true;
  $('#login-view').hidden = false;
  $('#username').focus();
}

function showApp(me) {
  csrf = me.csrfToken;
  showWebhookEvents(me.webhookEvents || []);
  $('#who').textContent = me.user.username;
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#password').value = '';
  loadUsers().then(() => showTab('sessions'));
  clearInterval(listTimer);
  listTimer = setInterval(() => { if (!$('#tab-sessions').hidden) loadSessions(); }, 3000);
}

$('#login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('#login-error').textContent = '';
  try {
    const me = await api('POST', 'login', { username: $('#username').value, password: $('#password').value });
    showApp(me);
  } catch (e) {
    $('#login-error').textContent = e.message;
  }
});

$('#logout-btn').addEventListener('click', () => guarded(async () => {
  await api('POST', 'logout', {});
  showLogin();
}));

// --- tabs -----------------------------------------------------------------------------------

function showTab(name) {
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== 'tab-' + name;
  if (name === 'sessions') loadSessions();
  if (name === 'users') renderUsers();
  if (name === 'messages') loadMessages();
  if (name === 'webhooks') loadWebhook();
}

for (const b of document.querySelectorAll('#tabs button')) {
  b.addEventListener('click', () => showTab(b.dataset.tab));
}

// --- users ----------------------------------------------------------------------------------

async function loadUsers() {
  users = await api('GET', 'users');
  for (const sel of [$('#new-session-user'), $('#webhook-user')]) {
    const keep = sel.value;
    sel.replaceChildren(...users.map((u) => {
      const o = el('option', u.username);
      o.value = u.id;
      return o;
    }));
    if (keep) sel.value = keep;
  }
}

function renderUsers() {
  const body = $('#users-table tbody');
  body.replaceChildren(...users.map((u) => {
    const tr = el('tr');
    tr.append(el('td', u.id), el('td', u.username), el('td', u.isAdmin ? 'yes' : 'no'), el('td', when(u.createdAt)));
    const td = el('td', null, 'actions');
    td.append(button('API keys', () => guarded(() => showKeys(u))));
    tr.append(td);
    return tr;
  }));
}

$('#new-user-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const u = await api('POST', 'users', {
      username: $('#new-user-name').value,
      password: $('#new-user-password').value || null,
      is_admin: $('#new-user-admin').checked,
    });
    $('#new-user-form').reset();
    flash('User ' + u.username + ' created');
    await loadUsers();
    renderUsers();
  });
});

// --- keys -----------------------------------------------------------------------------------

async function showKeys(user) {
  keysUser = user;
  $('#keys-user').textContent = user.username;
  $('#keys-card').hidden = false;
  hideNewKey();
  await loadKeys();
}

function hideNewKey() {
  $('#new-key').textContent = '';
  $('#new-key-box').hidden = true;
}

async function loadKeys() {
  const keys = await api('GET', 'users/' + keysUser.id + '/keys');
  $('#keys-table tbody').replaceChildren(...keys.map((k) => {
    const tr = el('tr');
    tr.dataset.keyId = k.keyId;
    tr.append(el('td', k.id), el('td', k.keyId), el('td', k.label || '—'),
      el('td', k.fullRights ? 'full rights' : k.scopes.join(', '), 'scopes'),
      el('td', k.sessions ? k.sessions.join(', ') : 'all', 'sessions'), el('td', when(k.createdAt)),
      el('td', when(k.lastUsedAt)), el('td', k.revokedAt ? when(k.revokedAt) : '—', 'revoked'));
    const td = el('td', null, 'actions');
    if (!k.revokedAt) {
      td.append(button('Revoke', () => guarded(async () => {
        if (!confirm('Revoke key ' + k.keyId + '? Programs using it stop working at once.')) return;
        await api('DELETE', 'keys/' + k.id);
        flash('Key ' + k.keyId + ' revoked');
        await loadKeys();
      }), 'danger revoke'));
    }
    tr.append(td);
    return tr;
  }));
}

$('#new-key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const body = { label: $('#key-label').value };
    const scopes = [...document.querySelectorAll('#key-scopes input:checked')].map((c) => c.value);
    if (scopes.length < 3) body.scopes = scopes;
    const sessions = $('#key-sessions').value.split(',').map((s) => s.trim()).filter(Boolean);
    if (sessions.length) body.sessions = sessions;
    const k = await api('POST', 'users/' + keysUser.id + '/keys', body);
    $('#key-label').value = '';
    $('#key-sessions').value = '';
    document.querySelectorAll('#key-scopes input').forEach((c) => { c.checked = true; });
    $('#new-key').textContent = k.key;
    $('#new-key-box').hidden = false;
    await loadKeys();
  });
});

$('#copy-key').addEventListener('click', () => guarded(async () => {
  await navigator.clipboard.writeText($('#new-key').textContent);
  flash('Copied');
}));
$('#dismiss-key').addEventListener('click', hideNewKey);

// --- sessions -------------------------------------------------------------------------------

function badge(state) {
  return el('span', state, 'badge ' + state);
}

async function loadSessions() {
  const list = await api('GET', 'sessions');
  const filter = $('#filter-session');
  const keep = filter.value;
  filter.replaceChildren(el('option', 'all'), ...list.map((s) => {
    const o = el('option', s.owner + ' / ' + s.sessionId);
    o.value = s.id;
    return o;
  }));
  filter.firstChild.value = '';
  filter.value = keep;
  $('#sessions-table tbody').replaceChildren(...list.map((s) => {
    const tr = el('tr');
    tr.dataset.session = s.sessionId;
    const state = el('td');
    state.append(badge(s.status));
    tr.append(el('td', s.sessionId), el('td', s.owner), state, el('td', s.phoneNumber || '—'), el('td', s.ackTimeouts || 0));
    const td = el('td', null, 'actions');
    td.append(
      button('Link', () => openLink(s.id, s.sessionId)),
      button('Restart', () => action(s.id, 'restart')),
      button('Log out', () => action(s.id, 'logout')),
      button('Delete', () => guarded(async () => {
        if (!confirm('Delete session ' + s.sessionId + '? Its browser profile and history are removed.')) return;
        await api('DELETE', 'sessions/' + s.id);
        if (linkTimer && $('#link-panel').dataset.id === String(s.id)) closeLink();
        await loadSessions();
      }), 'danger'),
    );
    tr.append(td);
    return tr;
  }));
}

function action(id, what) {
  guarded(async () => {
    await api('POST', 'sessions/' + id + '/' + what, {});
    flash(what === 'restart' ? 'Restarting' : 'Logged out');
    await loadSessions();
  });
}

$('#new-session-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const s = await api('POST', 'sessions', {
      user_id: Number($('#new-session-user').value),
      name: $('#new-session-name').value,
    });
    openLink(s.id, s.sessionId);
    await loadSessions();
  });
});

function openLink(id, name) {
  const panel = $('#link-panel');
  panel.dataset.id = id;
  panel.hidden = false;
  $('#link-name').textContent = name;
  $('#pairing-code').hidden = true;
  $('#qr-img').removeAttribute('src');
  clearInterval(linkTimer);
  refreshLink();
  // The QR rotates every ~20 s on WhatsApp: polling each second shows the current one.
  linkTimer = setInterval(refreshLink, 1000);
  panel.scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function closeLink() {
  clearInterval(linkTimer);
  linkTimer = null;
  $('#link-panel').hidden = true;
}

$('#link-close').addEventListener('click', closeLink);

async function refreshLink() {
  const id = $('#link-panel').dataset.id;
  let s;
  try {
    s = await api('GET', 'sessions/' + id);
  } catch (e) {
    closeLink();
    flash(e.message, true);
    return;
  }
  const state = $('#link-state');
  state.textContent = s.status;
  state.className = 'badge ' + s.status;
  $('#link-reason').textContent = s.reason || '';
  $('#passkey-box').hidden = s.status !== 'passkey_required';
  const caps = s.capabilities;
  if (caps && caps.capabilities) {
    const all = caps.capabilities.length;
    const ok = caps.capabilities.filter((c) => c.ok).length;
    $('#capabilities').textContent = 'WhatsApp Web ' + (caps.waVersion || '?') + ' · ' + ok + '/' + all +
      ' capabilities resolved' + (caps.fallbacks ? ', ' + caps.fallbacks + ' through a fallback' : '') +
      (caps.missing.length ? ' · missing: ' + caps.missing.join(', ') : '');
    $('#capabilities').hidden = false;
  } else {
    $('#capabilities').hidden = true;
  }
  const img = $('#qr-img');
  if (s.qrCode && s.status === 'qr_pending') {
    if (img.getAttribute('src') !== s.qrCode) img.setAttribute('src', s.qrCode);
    $('#qr-box').hidden = false;
  } else {
    $('#qr-box').hidden = true;
  }
  const linked = s.status === 'connected' && s.phoneNumber;
  $('#linked').hidden = !linked;
  $('#linked-phone').textContent = linked ? '+' + s.phoneNumber : '';
  $('#pairing-form').hidden = s.status !== 'qr_pending';
  if (s.pairingCode && s.status !== 'connected') {
    $('#pairing-code').textContent = s.pairingCode;
    $('#pairing-code').hidden = false;
  } else if (s.status === 'connected') {
    $('#pairing-code').hidden = true;
  }
  $('#link-history').replaceChildren(...(s.history || []).map((h) =>
    el('li', when(h.at) + ' — ' + h.state + (h.reason ? ' (' + h.reason + ')' : ''))));
}

$('#pairing-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const r = await api('POST', 'sessions/' + $('#link-panel').dataset.id + '/pairing-code', { phone: $('#pairing-phone').value });
    $('#pairing-code').textContent = r.pairingCode;
    $('#pairing-code').hidden = false;
  });
});

// --- messages -------------------------------------------------------------------------------

async function loadMessages() {
  const q = new URLSearchParams();
  if ($('#filter-session').value) q.set('session_id', $('#filter-session').value);
  if ($('#filter-status').value) q.set('status', $('#filter-status').value);
  q.set('limit', '100');
  const list = await api('GET', 'messages?' + q);
  const sessions = {};
  for (const o of $('#filter-session').options) sessions[o.value] = o.textContent;
  $('#messages-table tbody').replaceChildren(...list.map((m) => {
    const tr = el('tr');
    const status = el('td');
    status.append(badge(m.status));
    tr.append(el('td', when(m.createdAt)), el('td', sessions[m.sessionId] || m.sessionId),
      el('td', m.direction === 'in' ? '←' : '→'), el('td', m.chatId), el('td', m.type),
      el('td', m.body || m.caption || (m.media && m.media.filename) || '', 'text'), status,
      el('td', m.errorCode ? m.errorCode + ': ' + (m.error || '') : (m.error || ''), 'text'));
    return tr;
  }));
}

$('#messages-filter').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guarded(loadMessages);
});

// --- webhooks -------------------------------------------------------------------------------

// One checkbox per event the server knows; "all" stands for `*` and covers them all.
function showWebhookEvents(names) {
  $('#webhook-events').replaceChildren(...names.map((name) => {
    const box = el('input');
    Object.assign(box, { type: 'checkbox', name: 'ev', value: name, checked: true, disabled: true });
    const label = el('label', null, 'check');
    label.append(box, ' ' + name);
    return label;
  }));
}

function allWebhookEvents(all) {
  $('#webhook-all').checked = all;
  for (const c of document.querySelectorAll('input[name=ev]')) {
    c.disabled = all;
    if (all) c.checked = true;
  }
}

$('#webhook-all').addEventListener('change', () => allWebhookEvents($('#webhook-all').checked));

async function loadWebhook() {
  const uid = $('#webhook-user').value;
  if (!uid) return;
  try {
    const w = await api('GET', 'users/' + uid + '/webhook');
    $('#webhook-url').value = w.url;
    $('#webhook-enabled').checked = w.enabled;
    $('#webhook-secret').textContent = w.secret;
    allWebhookEvents(w.events.includes('*'));
    for (const c of document.querySelectorAll('input[name=ev]')) {
      c.checked = w.events.includes('*') || w.events.includes(c.value);
    }
  } catch (e) {
    if (e.code !== 'WEBHOOK_NOT_FOUND') throw e;
    $('#webhook-url').value = '';
    $('#webhook-secret').textContent = '— (generated on save)';
  }
}

$('#webhook-user').addEventListener('change', () => guarded(loadWebhook));

$('#webhook-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const events = $('#webhook-all').checked
      ? ['*']
      : [...document.querySelectorAll('input[name=ev]:checked')].map((c) => c.value);
    const w = await api('PUT', 'users/' + $('#webhook-user').value + '/webhook', {
      url: $('#webhook-url').value,
      events,
      enabled: $('#webhook-enabled').checked,
    });
    $('#webhook-secret').textContent = w.secret;
    flash('Webhook saved');
  });
});

// --- start ----------------------------------------------------------------------------------

api('GET', 'me').then(showApp).catch(showLogin);
