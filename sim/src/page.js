// wagate-sim: WhatsApp Web's in-page surface (wa-web-surface.md §2-§7, §10), talking to the
// simulator server the way WhatsApp Web talks to WhatsApp's servers. Only `window.Debug` and
// `window.require` are public; the rest is private to the page.
(function () {
  'use strict';
  const CFG = window.__SIM_CONFIG;
  const API = '/sim/api';

  // --- building blocks (§10.1) ------------------------------------------------------------------

  class Emitter {
    constructor() { this._handlers = {}; }
    on(events, fn, ctx) {
      for (const ev of String(events).split(/\s+/).filter(Boolean)) {
        (this._handlers[ev] = this._handlers[ev] || []).push({ fn, ctx, once: false });
      }
      return this;
    }
    once(events, fn, ctx) {
      for (const ev of String(events).split(/\s+/).filter(Boolean)) {
        (this._handlers[ev] = this._handlers[ev] || []).push({ fn, ctx, once: true });
      }
      return this;
    }
    off(events, fn) {
      if (!events) { this._handlers = {}; return this; }
      for (const ev of String(events).split(/\s+/).filter(Boolean)) {
        if (!fn) delete this._handlers[ev];
        else this._handlers[ev] = (this._handlers[ev] || []).filter((h) => h.fn !== fn);
      }
      return this;
    }
    trigger(ev, ...args) {
      const list = (this._handlers[ev] || []).slice();
      for (const h of list) {
        if (h.once) this.off(ev, h.fn);
        try { h.fn.apply(h.ctx || this, args); } catch (e) { console.error('handler for', ev, e); }
      }
      return this;
    }
  }

  // A model whose attributes are plain properties; assigning one fires change:<attr> (model,
  // value) and change (model), like WhatsApp's Backbone-style models.
  class Model extends Emitter {
    constructor(attrs) {
      super();
      this._attrs = {};
      for (const [k, v] of Object.entries(attrs || {})) this.defineAttr(k, v);
      this.collection = null;
    }
    defineAttr(name, value) {
      this._attrs[name] = value;
      if (Object.prototype.hasOwnProperty.call(this, name)) return;
      Object.defineProperty(this, name, {
        enumerable: true,
        configurable: true,
        get: () => this._attrs[name],
        set: (v) => this.set(name, v),
      });
    }
    set(name, value) {
      if (typeof name === 'object') {
        for (const [k, v] of Object.entries(name)) this.set(k, v);
        return this;
      }
      if (!(name in this._attrs)) this.defineAttr(name, undefined);
      const prev = this._attrs[name];
      if (prev === value) return this;
      this._attrs[name] = value;
      this.trigger('change:' + name, this, value, prev);
      this.trigger('change', this);
      return this;
    }
    get(name) { return this._attrs[name]; }
    serialize() {
      const out = {};
      for (const [k, v] of Object.entries(this._attrs)) out[k] = v;
      return out;
    }
    toJSON() { return this.serialize(); }
  }

  class Wid {
    constructor(s) {
      const [user, server] = String(s).split('@');
      this.user = user;
      this.server = server || 'c.us';
      this._serialized = this.user + '@' + this.server;
    }
    isLid() { return this.server === 'lid'; }
    isGroup() { return this.server === 'g.us'; }
    isUser() { return this.server === 'c.us' || this.server === 'lid'; }
    isStatus() { return this._serialized === 'status@broadcast'; }
    toJid() { return this.server === 'c.us' ? this.user + '@s.whatsapp.net' : this._serialized; }
    toString() { return this._serialized; }
    equals(o) { return o && String(o._serialized || o) === this._serialized; }
  }
  const widOf = (x) => (x instanceof Wid ? x : new Wid(x && x._serialized ? x._serialized : x));

  class Collection extends Emitter {
    constructor(modelClass, keyOf) {
      super();
      this.modelClass = modelClass;
      this._keyOf = keyOf;
      this._models = [];
      this._byKey = new Map();
    }
    get length() { return this._models.length; }
    key(idOrWid) {
      if (idOrWid == null) return null;
      if (typeof idOrWid === 'string') return idOrWid;
      return idOrWid._serialized || String(idOrWid);
    }
    get(idOrWid) { return this._byKey.get(this.key(idOrWid)); }
    find(idOrWid) { return Promise.resolve(this.get(idOrWid)); }
    getModelsArray() { return this._models.slice(); }
    add(model) {
      const models = Array.isArray(model) ? model : [model];
      for (const m of models) {
        const k = this._keyOf(m);
        if (this._byKey.has(k)) continue;
        this._byKey.set(k, m);
        this._models.push(m);
        m.collection = this;
        // Re-fire the model's events on the collection, with the model first.
        const orig = m.trigger.bind(m);
        m.trigger = (ev, ...args) => {
          orig(ev, ...args);
          if (ev.startsWith('change')) this.trigger(ev, ...args);
          return m;
        };
        this.trigger('add', m, this);
      }
      return models;
    }
    remove(model) {
      const k = this._keyOf(model);
      if (!this._byKey.has(k)) return;
      this._byKey.delete(k);
      this._models = this._models.filter((m) => m !== model);
      this.trigger('remove', model, this);
    }
  }

  class MsgKey {
    constructor({ from, to, id, participant, selfDir, fromMe }) {
      this.fromMe = fromMe !== undefined ? fromMe : selfDir === 'out';
      this.remote = widOf(to);
      this.id = id;
      this.participant = participant ? widOf(participant) : undefined;
      this._serialized = [String(this.fromMe), this.remote._serialized, id]
        .concat(this.participant ? [this.participant._serialized] : [])
        .join('_');
    }
    toString() { return this._serialized; }
    static newId() {
      const bytes = crypto.getRandomValues(new Uint8Array(10));
      return Promise.resolve(Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase());
    }
  }

  class Msg extends Model {
    constructor(props) {
      super(Object.assign({
        ack: 0, type: 'chat', body: '', isNewMsg: false, isEphemeral: false, isStatusV3: false,
        star: false, broadcast: false, isForwarded: false, forwardingScore: 0, mentionedJidList: [],
        groupMentions: [], latestEditMsgKey: null, isUnsentMedia: false,
      }, props));
    }
    unsafe() { return this; }
    canReply() { return true; }
    msgContextInfo() { return {}; }
    serialize() {
      const o = super.serialize();
      const id = this.id;
      o.id = { fromMe: id.fromMe, remote: id.remote, id: id.id, participant: id.participant, _serialized: id._serialized };
      return o;
    }
  }

  class Chat extends Model {
    constructor(id) {
      const wid = widOf(id);
      super({ id: wid, unreadCount: 0, formattedTitle: '+' + wid.user, mute: { expiration: 0 }, lastReceivedKey: null, archive: false });
      this.msgs = new Collection(Msg, (m) => m.id._serialized);
      if (wid.isGroup()) {
        this.groupMetadata = new Model({ id: wid, isLidAddressingMode: false, announce: false, participants: { _models: [] } });
      }
    }
  }

  // --- state -----------------------------------------------------------------------------------

  const Socket = new Model({ state: 'OPENING', hasSynced: false, stream: 'DISCONNECTED' });
  const Conn = new Model({ ref: null, pushname: null, platform: 'smba', battery: 100, plugged: true });
  Conn.serialize = function () { return { ref: this.ref, pushname: this.pushname, platform: this.platform, battery: this.battery, plugged: this.plugged, phone: { wa_version: CFG.version } }; };
  const Cmd = new Emitter();
  const Stream = new Model({ available: false });
  const MsgCollection = new Collection(Msg, (m) => m.id._serialized);
  MsgCollection.getMessagesById = (ids) => Promise.resolve({ messages: ids.map((i) => MsgCollection.get(i)).filter(Boolean) });
  const ChatCollection = new Collection(Chat, (c) => c.id._serialized);
  const ContactCollection = new Collection(Model, (c) => c.id._serialized);

  let creds = null; // { deviceId, noise, identity, adv, linked, phone, lid, pushname }
  let pageId = null;
  let progress = 0;
  let me = null; // { pn: Wid, lid: Wid|null }
  let rotations = 0;
  let rotationTimer = null;
  let pairingType = 'QR';
  const uploads = new Map(); // filehash -> { blob, mimetype, filename }

  function b64(bytes) {
    let s = '';
    for (const c of new Uint8Array(bytes)) s += String.fromCharCode(c);
    return btoa(s);
  }
  function unb64(s) { return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); }
  function randomRef() { return '2@' + b64(crypto.getRandomValues(new Uint8Array(48))).replace(/=+$/, ''); }

  async function post(path, body) {
    const r = await fetch(API + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
    return j;
  }

  // --- persistence in the browser profile (IndexedDB, mirrored to localStorage) -----------------

  function idb() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open('wa-sim', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('creds');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  async function loadCreds() {
    try {
      const db = await idb();
      const v = await new Promise((resolve) => {
        const r = db.transaction('creds').objectStore('creds').get('main');
        r.onsuccess = () => resolve(r.result || null);
        r.onerror = () => resolve(null);
      });
      if (v) return v;
    } catch (_) { /* fall back */ }
    try { return JSON.parse(localStorage.getItem('wa-sim-creds') || 'null'); } catch (_) { return null; }
  }
  async function saveCreds(c) {
    localStorage.setItem('wa-sim-creds', JSON.stringify(c));
    const db = await idb();
    await new Promise((resolve) => {
      const tx = db.transaction('creds', 'readwrite');
      tx.objectStore('creds').put(c, 'main');
      tx.oncomplete = resolve;
      tx.onerror = resolve;
    });
  }
  function newCreds() {
    const r = () => b64(crypto.getRandomValues(new Uint8Array(32)));
    return { deviceId: crypto.randomUUID(), noise: r(), identity: r(), adv: r(), linked: false };
  }

  // --- QR ----------------------------------------------------------------------------------------

  function payload() {
    return [Conn.ref, creds.noise, creds.identity, creds.adv, CFG.platform].join(',');
  }
  function reportQr() {
    if (!Conn.ref) return;
    post('/qr', { page: pageId, payload: payload() }).catch(() => {});
    render();
  }
  function rotate() {
    rotations += 1;
    if (rotations > CFG.qrMaxRotations) {
      clearInterval(rotationTimer);
      rotationTimer = null;
      Conn.ref = null;
      post('/qr', { page: pageId, payload: null }).catch(() => {});
      Socket.state = 'UNPAIRED_IDLE';
      render();
      return;
    }
    Conn.ref = randomRef();
    reportQr();
  }
  function startQr() {
    rotations = 0;
    if (rotationTimer) clearInterval(rotationTimer);
    Conn.ref = randomRef();
    Socket.state = 'UNPAIRED';
    reportQr();
    rotationTimer = setInterval(rotate, CFG.qrRotationMs);
  }
  function stopQr() {
    if (rotationTimer) clearInterval(rotationTimer);
    rotationTimer = null;
  }

  // --- connection lifecycle ----------------------------------------------------------------------

  function setMe(phone, lid, pushname) {
    me = { pn: new Wid(phone + '@c.us'), lid: lid ? new Wid(lid + '@lid') : null };
    Conn.pushname = pushname || null;
  }

  function syncThenReady() {
    Socket.state = 'CONNECTED';
    Socket.stream = 'CONNECTED';
    progress = 0;
    const steps = 5;
    let i = 0;
    const t = setInterval(() => {
      i += 1;
      progress = Math.round((i / steps) * 100);
      Cmd.trigger('offline_progress_update_from_bridge');
      render();
      if (i >= steps) {
        clearInterval(t);
        Socket.hasSynced = true;
        render();
      }
    }, Math.max(10, CFG.syncMs / steps));
  }

  async function onPaired(cmd) {
    stopQr();
    Conn.ref = null;
    Socket.state = 'PAIRING';
    render();
    creds.linked = true;
    creds.phone = cmd.phone;
    creds.lid = cmd.lid;
    creds.pushname = cmd.pushname;
    await saveCreds(creds);
    setMe(cmd.phone, cmd.lid, cmd.pushname);
    setTimeout(syncThenReady, 200);
  }

  async function logoutNow(kind) {
    stopQr();
    Cmd.trigger(kind || 'logout');
    creds = newCreds();
    await saveCreds(creds);
    location.replace('/?post_logout=1');
  }

  // Messages received before the page (re)loaded, as the real page reads them back from its
  // IndexedDB: in the store, not new (no notification).
  function restoreReceived(list) {
    for (const m of list) {
      const key = new MsgKey({ fromMe: false, to: m.remote, id: m.id, participant: m.author || undefined });
      if (MsgCollection.get(key._serialized)) continue;
      onIncoming(m, false);
    }
  }

  function onIncoming(m, isNew) {
    const key = new MsgKey({ fromMe: false, to: m.remote, id: m.id, participant: m.author || undefined });
    if (MsgCollection.get(key._serialized)) return; // already restored from the store
    const props = {
      id: key, from: widOf(m.remote), to: me ? me.pn : null, author: m.author ? widOf(m.author) : undefined,
      type: m.type, body: m.body || '', t: m.t, ack: 1, isNewMsg: isNew !== false, notifyName: m.notifyName || null,
      clientReceivedTsMillis: Date.now(), recvFresh: true,
    };
    if (m.media) {
      Object.assign(props, {
        mimetype: m.media.mimetype, filename: m.media.filename, size: m.media.size, caption: m.caption || undefined,
        directPath: '/v/t62.sim/' + m.media.id, mediaKey: b64(crypto.getRandomValues(new Uint8Array(32))),
        body: m.media.preview || '',
      });
    }
    const chat = chatFor(m.remote);
    const msg = new Msg(props);
    chat.msgs.add(msg);
    chat.unreadCount = chat.unreadCount + 1;
    MsgCollection.add(msg);
    render();
  }

  // Messages this device sent before the page (re)loaded, as the real page reads them back from
  // its IndexedDB: in their chats and in the Msg collection, with their last ack.
  function restoreOwn(records) {
    for (const r of records) {
      const prefix = 'true_' + r.chat + '_';
      if (!r.id.startsWith(prefix)) continue;
      const key = new MsgKey({ fromMe: true, to: r.chat, id: r.id.slice(prefix.length) });
      if (MsgCollection.get(key._serialized)) continue;
      const msg = new Msg({ id: key, from: me ? me.pn : null, to: widOf(r.chat), type: r.type, body: r.body || '', t: r.t, ack: r.ack });
      chatFor(r.chat).msgs.add(msg);
      MsgCollection.add(msg);
    }
  }

  function chatFor(id) {
    let chat = ChatCollection.get(id);
    if (!chat) {
      chat = new Chat(id);
      ChatCollection.add(chat);
    }
    return chat;
  }

  async function listen() {
    for (;;) {
      try {
        const r = await fetch(API + '/poll?page=' + encodeURIComponent(pageId));
        if (r.status === 410) return; // the server forgot this page
        const cmds = await r.json();
        for (const c of cmds) await handle(c);
      } catch (_) {
        await new Promise((res) => setTimeout(res, 500));
      }
    }
  }

  async function handle(c) {
    switch (c.type) {
      case 'paired': return onPaired(c);
      case 'incoming': return onIncoming(c.message);
      case 'ack': {
        const m = MsgCollection.get(c.id);
        if (m) m.ack = c.ack;
        render();
        return;
      }
      case 'logout': return logoutNow('logout');
      case 'state': {
        Socket.state = c.state;
        if (c.state === 'UNPAIRED') {
          creds = newCreds();
          await saveCreds(creds);
          Socket.hasSynced = false;
        }
        render();
        return;
      }
      default: return;
    }
  }

  // --- sending (§6.3, §6.4) ----------------------------------------------------------------------

  function requireLinked() {
    if (!me) throw new Error('not logged in');
  }

  function addAndSendMsgToChat(chat, props) {
    requireLinked();
    const msg = new Msg(Object.assign({}, props));
    const added = Promise.resolve().then(() => {
      chat.msgs.add(msg);
      MsgCollection.add(msg);
      render();
      return msg;
    });
    const sent = added.then(async () => {
      const record = {
        page: pageId, id: msg.id._serialized, chat: msg.to._serialized || String(msg.to), type: msg.type,
        body: msg.type === 'chat' ? msg.body : null, caption: msg.caption || null, mimetype: msg.mimetype || null,
        filename: msg.filename || null, directPath: msg.directPath || null, t: msg.t,
      };
      try {
        await post('/send', record);
      } catch (e) {
        msg.ack = -1;
        render();
        throw e;
      }
      msg.ack = Math.max(msg.ack, 1);
      if (msg.isUnsentMedia) msg.isUnsentMedia = false;
      render();
      return msg;
    });
    sent.catch(() => {});
    return [added, sent];
  }

  class OpaqueData {
    constructor(blob, mimetype) { this._blob = blob; this.mimetype = mimetype; this._url = null; }
    static async createFromData(data, mimetype) {
      const blob = data instanceof Blob ? data : new Blob([data], { type: mimetype });
      return new OpaqueData(blob, mimetype || blob.type);
    }
    url() { if (!this._url) this._url = URL.createObjectURL(this._blob); return this._url; }
    autorelease() { /* object URLs die with the document */ }
    formData() { return this._blob; }
    blob() { return this._blob; }
  }

  function mediaTypeOf(mimetype, o) {
    if (o.asSticker) return 'sticker';
    if (o.asDocument) return 'document';
    if (o.isPtt) return 'ptt';
    if (/^image\//.test(mimetype)) return 'image';
    if (/^video\//.test(mimetype)) return 'video';
    if (/^audio\//.test(mimetype)) return 'audio';
    return 'document';
  }

  function prepRawMedia(opaque, o) {
    o = o || {};
    const prep = (async () => {
      const buf = await opaque.blob().arrayBuffer();
      const hash = b64(await crypto.subtle.digest('SHA-256', buf));
      const type = mediaTypeOf(opaque.mimetype, o);
      const data = new Model({
        type, isGif: !!o.asGif, mimetype: opaque.mimetype, filehash: hash, size: buf.byteLength,
        mediaBlob: opaque, preview: type === 'image' ? 'sim-thumbnail' : undefined,
        filename: opaque.blob().name || undefined, fullHeight: 1, fullWidth: 1,
      });
      data.toJSON = function () {
        const j = {};
        for (const [k, v] of Object.entries(this._attrs)) if (k !== 'mediaBlob') j[k] = v;
        return j;
      };
      uploads.set(hash, { blob: opaque.blob(), mimetype: opaque.mimetype, filename: data.filename });
      return data;
    })();
    return { waitForPrep: () => prep };
  }

  const mediaObjects = new Map();
  function getOrCreateMediaObject(filehash) {
    if (!mediaObjects.has(filehash)) {
      const u = uploads.get(filehash);
      mediaObjects.set(filehash, {
        filehash, size: u ? u.blob.size : 0, type: null, contentInfo: { waveform: undefined },
        consolidate(json) { Object.assign(this, { type: json.type, size: json.size || this.size }); },
      });
    }
    return mediaObjects.get(filehash);
  }

  async function uploadMedia({ mimetype, mediaObject, mediaType }) {
    requireLinked();
    const u = uploads.get(mediaObject.filehash);
    if (!u) return {};
    const q = new URLSearchParams({ page: pageId, mimetype: mimetype || u.mimetype, mediaType: mediaType || '' });
    const r = await fetch(API + '/upload?' + q, { method: 'POST', body: u.blob });
    if (!r.ok) throw new Error('upload failed: HTTP ' + r.status);
    const j = await r.json();
    return {
      mediaEntry: {
        mmsUrl: 'https://mmg.whatsapp.net' + j.directPath, deprecatedMms3Url: 'https://mmg.whatsapp.net' + j.directPath,
        directPath: j.directPath, mediaKey: j.mediaKey, mediaKeyTimestamp: Math.floor(Date.now() / 1000),
        encFilehash: j.encFilehash, uploadHash: j.encFilehash, sidecar: undefined, firstFrameSidecar: undefined, handle: null,
      },
    };
  }

  // --- the module registry (§2.1) ------------------------------------------------------------------

  const modules = {
    WAWebSocketModel: { Socket },
    WAWebConnModel: { Conn },
    WAWebCmd: { Cmd },
    WAWebOfflineHandler: { OfflineMessageHandler: { getOfflineDeliveryProgress: () => progress } },
    WAWebMiscBrowserUtils: { info: () => ({ os: 'Linux', name: 'Chrome' }) },
    WAWebSignalStoreApi: { waSignalStore: { getRegistrationInfo: async () => ({ identityKeyPair: { pubKey: unb64(creds.identity) } }) } },
    WAWebUserPrefsInfoStore: { waNoiseInfo: { get: async () => ({ staticKeyPair: { pubKey: unb64(creds.noise) } }) } },
    WABase64: { encodeB64: (bytes) => b64(bytes) },
    WAWebUserPrefsMultiDevice: { getADVSecretKey: () => (pairingType === 'ALT_DEVICE_LINKING' ? null : creds.adv) },
    WAWebCompanionRegClientUtils: { DEVICE_PLATFORM: CFG.platform },
    WAWebAltDeviceLinkingApi: {
      setPairingType: (t) => { pairingType = t; },
      initializeAltDeviceLinking: async () => { stopQr(); },
      startAltLinkingFlow: async (phone) => {
        const j = await post('/pairing-code', { page: pageId, phone: String(phone) });
        render(j.code);
        return j.code;
      },
      initializeQRLinking: async () => { pairingType = 'QR'; startQr(); },
    },
    WAWebLaunchSocketUtils: { refreshQR: () => { if (!me) startQr(); } },
    WAWebUserPrefsMeUser: {
      getMaybeMePnUser: () => (me ? me.pn : null),
      getMaybeMeLidUser: () => (me ? me.lid : null),
    },
    WAWebCollections: { Msg: MsgCollection, Chat: ChatCollection, Contact: ContactCollection },
    WAWebSyncGatingUtils: {},
    WAWebCallCollection: {},
    WALinkify: {
      findLinks: (text) => (String(text || '').match(/https?:\/\/\S+/g) || []).map((l) => ({ link: l, isSuspicious: false })),
      findLink: (text) => { const m = String(text || '').match(/https?:\/\/\S+/); return m ? { href: m[0], url: m[0] } : null; },
    },
    WAWebWidFactory: {
      createWid: (s) => new Wid(s),
      asUserWidOrThrow: (w) => { const wid = widOf(w); if (!wid.isUser()) throw new Error('not a user wid'); return wid; },
      createWidFromWidLike: (w) => widOf(w),
    },
    WAWebFindChatAction: {
      findOrCreateLatestChat: async (wid) => { requireLinked(); return { chat: chatFor(widOf(wid)._serialized) }; },
    },
    WAWebChatGetters: { getIsNewsletter: () => false, getIsBroadcast: () => false },
    WAWebStreamModel: { Stream: { markAvailable: () => { Stream.available = true; }, markUnavailable: () => { Stream.available = false; } } },
    WAWebChatStateBridge: {
      sendChatStateComposing: (wid) => post('/chatstate', { page: pageId, chat: String((wid && wid._serialized) || wid), state: 'composing' }),
      sendChatStateRecording: (wid) => post('/chatstate', { page: pageId, chat: String((wid && wid._serialized) || wid), state: 'recording' }),
      sendChatStatePaused: (wid) => post('/chatstate', { page: pageId, chat: String((wid && wid._serialized) || wid), state: 'paused' }),
    },
    WAWebUpdateUnreadChatAction: { sendSeen: async ({ chat }) => { if (chat) chat.unreadCount = 0; } },
    WAWebLinkPreviewChatAction: { getLinkPreview: async () => ({}) },
    WAWebMsgKey: MsgKey,
    WAWebGetEphemeralFieldsMsgActionsUtils: { getEphemeralFields: () => ({}) },
    WAWebSendMsgChatAction: { addAndSendMsgToChat },
    WAWebMediaOpaqueData: OpaqueData,
    WAWebPrepRawMedia: { prepRawMedia },
    WAWebMediaStorage: { getOrCreateMediaObject },
    WAWebMmsMediaTypes: {
      msgToMediaType: ({ type, isGif }) => (type === 'video' && isGif ? 'gif' : type),
      castToV4: (t) => t,
    },
    WAWebMediaDataUtils: { shouldUseMediaCache: () => false },
    WAWebMediaInMemoryBlobCache: { InMemoryMediaBlobCache: { put: () => {} } },
    WAWebMediaMmsV4Upload: { uploadMedia },
    WAWebQueryExistsJob: {
      queryWidExists: async (wid) => {
        requireLinked();
        const w = widOf(wid);
        const j = await post('/exists', { page: pageId, number: w.user });
        return j.exists ? { wid: w } : null;
      },
    },
    WAWebDownloadManager: {
      downloadManager: {
        downloadAndMaybeDecrypt: async ({ directPath }) => {
          const r = await fetch(API + '/media?path=' + encodeURIComponent(directPath));
          if (!r.ok) throw new Error('download failed: HTTP ' + r.status);
          return r.arrayBuffer();
        },
      },
    },
  };
  for (const name of CFG.removedModules) delete modules[name];
  for (const [from, to] of Object.entries(CFG.renamedModules)) {
    if (modules[from]) { modules[to] = modules[from]; delete modules[from]; }
  }

  window.require = function (name) {
    if (Object.prototype.hasOwnProperty.call(modules, name)) return modules[name];
    throw new Error('Requiring unknown module "' + name + '"');
  };

  // --- what a person sees ------------------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  let selectedChat = null;
  let shownCode = null;
  let renderQueued = false;
  // Redraws are coalesced: a burst of acks costs one redraw, not one per event.
  function render(code) {
    if (code) shownCode = code;
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(() => {
      renderQueued = false;
      draw();
    }, 30);
  }
  function draw() {
    const root = document.getElementById('app');
    if (!root) return;
    root.textContent = '';
    const state = Socket.state;
    if (state === 'UNPAIRED' || state === 'UNPAIRED_IDLE' || (state === 'OPENING' && !me)) {
      const box = el('div', 'landing');
      box.appendChild(el('h1', null, 'Use WhatsApp on your computer'));
      box.appendChild(el('ol', null, ''));
      ['Open WhatsApp on your phone', 'Tap Menu or Settings and select Linked devices', 'Point your phone at this screen to capture the code']
        .forEach((t) => box.lastChild.appendChild(el('li', null, t)));
      if (Conn.ref && state === 'UNPAIRED') {
        const img = el('img', 'qr');
        img.alt = 'Scan me!';
        img.src = '/sim/qr.png?data=' + encodeURIComponent(payload());
        img.dataset.ref = Conn.ref;
        box.appendChild(img);
      } else if (state === 'UNPAIRED_IDLE') {
        const b = el('button', 'reload', 'Click to reload QR code');
        b.onclick = () => modules.WAWebLaunchSocketUtils.refreshQR();
        box.appendChild(b);
      } else {
        box.appendChild(el('div', 'spinner', 'Loading…'));
      }
      if (shownCode) box.appendChild(el('div', 'code', 'Pairing code: ' + shownCode));
      root.appendChild(box);
      return;
    }
    if (!Socket.hasSynced) {
      const box = el('div', 'loading');
      box.appendChild(el('div', 'title', 'WhatsApp'));
      const bar = el('div', 'bar');
      const fill = el('div', 'fill');
      fill.style.width = progress + '%';
      bar.appendChild(fill);
      box.appendChild(bar);
      box.appendChild(el('div', 'hint', 'Loading your chats [' + progress + '%]'));
      root.appendChild(box);
      return;
    }
    const main = el('div', 'main');
    const side = el('div', 'side');
    side.appendChild(el('div', 'me', me ? '+' + me.pn.user + (Conn.pushname ? ' · ' + Conn.pushname : '') : ''));
    const chats = ChatCollection.getModelsArray().slice().reverse();
    if (!selectedChat && chats.length) selectedChat = chats[0].id._serialized;
    for (const c of chats) {
      const row = el('div', 'chat' + (c.id._serialized === selectedChat ? ' active' : ''));
      row.appendChild(el('div', 'name', c.formattedTitle));
      const last = c.msgs.getModelsArray().slice(-1)[0];
      row.appendChild(el('div', 'last', last ? (last.caption || (last.type === 'chat' ? last.body : '[' + last.type + ']')) : ''));
      if (c.unreadCount) row.appendChild(el('span', 'unread', String(c.unreadCount)));
      row.onclick = () => { selectedChat = c.id._serialized; render(); };
      side.appendChild(row);
    }
    main.appendChild(side);
    const conv = el('div', 'conv');
    const chat = selectedChat && ChatCollection.get(selectedChat);
    if (chat) {
      conv.appendChild(el('div', 'header', chat.formattedTitle));
      const list = el('div', 'msgs');
      for (const m of chat.msgs.getModelsArray().slice(-100)) {
        const b = el('div', 'bubble ' + (m.id.fromMe ? 'out' : 'in'));
        if (m.author) b.appendChild(el('div', 'author', String(m.author)));
        b.appendChild(el('div', 'text', m.type === 'chat' ? m.body : '[' + m.type + '] ' + (m.caption || m.filename || '')));
        const ticks = m.id.fromMe ? ({ '-1': ' !', 0: ' ◷', 1: ' ✓', 2: ' ✓✓', 3: ' ✓✓ read', 4: ' ✓✓ played' })[m.ack] || '' : '';
        b.appendChild(el('div', 'meta', new Date((m.t || 0) * 1000).toLocaleTimeString() + ticks));
        list.appendChild(b);
      }
      conv.appendChild(list);
    } else {
      conv.appendChild(el('div', 'empty', 'Keep your phone connected'));
    }
    main.appendChild(conv);
    root.appendChild(main);
  }

  // --- boot (§2.2) ---------------------------------------------------------------------------------

  async function boot() {
    render();
    creds = await loadCreds();
    if (!creds) {
      creds = newCreds();
      await saveCreds(creds);
    }
    const hello = await post('/hello', { deviceId: creds.deviceId, linked: !!creds.linked });
    pageId = hello.page;
    listen();
    setTimeout(() => {
      window.Debug = { VERSION: CFG.version };
      if (hello.linked) {
        setMe(hello.phone, hello.lid, hello.pushname);
        restoreOwn(hello.recent || []);
        restoreReceived(hello.received || []);
        syncThenReady();
      } else {
        if (creds.linked) {
          creds = newCreds();
          saveCreds(creds);
          post('/hello', { deviceId: creds.deviceId, linked: false, page: pageId }).catch(() => {});
        }
        startQr();
      }
      render();
    }, CFG.versionDelayMs);
  }
  Socket.logout = function () { return post('/logout', { page: pageId }).then(() => logoutNow('logout')); };
  Socket.reconnect = function () { if (me) syncThenReady(); };
  Socket.takeover = function () { if (me) { Socket.state = 'CONNECTED'; } };
  boot();
})();
