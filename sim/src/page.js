// wagate-sim: WhatsApp Web's in-page surface (wa-web-surface.md §2-§7, §10), talking to the
// simulator server the way WhatsApp Web talks to WhatsApp's servers. Only `window.Debug` and
// `window.require` are public; the rest is private to the page.
(function () {
  'use strict';
  const CFG = window.__SIM_CONFIG;
  const API = '/sim/api';
  // The era of WhatsApp Web this page plays (sim/README.md "Eras"): '2026-01' or '2026-09'.
  const SEP = CFG.era === '2026-09';

  // Internal bookkeeping stays out of enumerable properties, as on the real page: copying a
  // model's own enumerable properties gives plain data.
  function hide(obj, name, value) {
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });
  }
  // A message key's serialised form, whatever field holds it (`_serialized`, or `$1` in 2026-09).
  function keyStr(k) {
    if (k == null) return null;
    if (typeof k === 'string') return k;
    return k._serialized || k.$1 || String(k);
  }

  // --- building blocks (§10.1) ------------------------------------------------------------------

  class Emitter {
    constructor() { hide(this, '_handlers', {}); }
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
      if (!events) { hide(this, '_handlers', {}); return this; }
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
      hide(this, '_attrs', {});
      for (const [k, v] of Object.entries(attrs || {})) this.defineAttr(k, v);
      hide(this, 'collection', null);
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
      hide(this, '_keyOf', keyOf);
      hide(this, '_models', []);
      hide(this, '_byKey', new Map());
    }
    get length() { return this._models.length; }
    key(idOrWid) {
      if (idOrWid == null) return null;
      return keyStr(idOrWid);
    }
    get(idOrWid) { return this._byKey.get(this.key(idOrWid)); }
    find(idOrWid) { return Promise.resolve(this.get(idOrWid)); }
    getModelsArray() { return this._models.slice(); }
    add(model) {
      const models = Array.isArray(model) ? model : [model];
      let grew = false;
      for (const m of models) {
        const k = this._keyOf(m);
        if (this._byKey.has(k)) continue;
        this._byKey.set(k, m);
        this._models.push(m);
        m.collection = this;
        // Re-fire the model's events on the collection, with the model first.
        const orig = m.trigger.bind(m);
        hide(m, 'trigger', (ev, ...args) => {
          orig(ev, ...args);
          if (ev.startsWith('change')) this.trigger(ev, ...args);
          return m;
        });
        grew = true;
        this.trigger('add', m, this);
      }
      // A sorted collection (a chat's messages: by time) keeps its order whatever was added.
      if (grew && this.comparator) this._models.sort(this.comparator);
      return models;
    }
    remove(model) {
      const k = this._keyOf(model);
      if (!this._byKey.has(k)) return;
      this._byKey.delete(k);
      hide(this, '_models', this._models.filter((m) => m !== model));
      this.trigger('remove', model, this);
    }
  }

  class MsgKey {
    constructor({ from, to, id, participant, selfDir, fromMe }) {
      this.fromMe = fromMe !== undefined ? fromMe : selfDir === 'out';
      this.remote = widOf(to);
      this.id = id;
      this.participant = participant ? widOf(participant) : undefined;
      const s = [String(this.fromMe), this.remote._serialized, id]
        .concat(this.participant ? [this.participant._serialized] : [])
        .join('_');
      // 2026-09: no cached `_serialized` on message keys; the same string sits under the
      // minified `$1` (anchors-2026-11.md §3.2). Wids keep `_serialized`.
      if (SEP) this.$1 = s;
      else this._serialized = s;
    }
    toString() { return keyStr(this); }
    static newId() {
      const bytes = crypto.getRandomValues(new Uint8Array(10));
      return Promise.resolve(Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase());
    }
  }

  const MEMO_ERROR = "Data passed to getter must include an id property (it's how we memoize)";

  class Msg extends Model {
    constructor(props) {
      props = Object.assign({
        ack: 0, type: 'chat', body: '', isNewMsg: false, isEphemeral: false, isStatusV3: false,
        star: false, broadcast: false, isForwarded: false, forwardingScore: 0, mentionedJidList: [],
        groupMentions: [], latestEditMsgKey: null, latestEditSenderTimestampMs: null, isUnsentMedia: false,
      }, props);
      if (SEP) {
        // WhatsApp's models keep attribute `x` in a private slot `__x_x`: a `__x_id` copied in
        // from a media model lands in the id's slot and overrides the key (anchors §3.2,
        // 2026-09-17). What is left must still be a message key.
        if (Object.prototype.hasOwnProperty.call(props, '__x_id')) {
          props.id = props.__x_id;
          delete props.__x_id;
        }
        if (!props.id || typeof props.id !== 'object' || !props.id.id) throw new Error(MEMO_ERROR);
      }
      const isMedia = !!(props.mimetype || props.directPath);
      if (isMedia && SEP && props.avParams === undefined) props.avParams = avParamsData();
      super(props);
      // 2026-01: `avParams` is a function on media models; 2026-09: data (anchors §3.2, 2026-07-08).
      if (isMedia && !SEP) hide(this, 'avParams', avParamsFn);
      if (isMedia) this.attachMediaData();
    }
    unsafe() { return this; }
    canReply() { return canReplyMsg(this); }
    // What a reply to this message carries (wa-web-surface §6.3): the quoted message, its key id
    // (stanza id) and its author — our own id (in the chat's addressing) for our messages.
    msgContextInfo() {
      const id = this.id;
      let participant = this.author || this.from;
      if (id.fromMe && me) participant = id.remote.isLid() && me.lid ? me.lid : me.pn;
      return {
        quotedMsg: { type: this.type, body: this.body, caption: this.caption },
        quotedStanzaID: id.id,
        quotedParticipant: participant ? widOf(participant) : undefined,
      };
    }
    // What the real page keeps per media message: its download stage (INIT, FETCHING, RESOLVED,
    // ERROR_…), and downloadMedia() to move it, which the reference client calls first.
    attachMediaData() {
      hide(this, 'mediaData', new Model({ mediaStage: this.id && this.id.fromMe ? 'RESOLVED' : 'INIT', type: this.type, mimetype: this.mimetype, size: this.size, filehash: this.filehash }));
    }
    async downloadMedia() {
      const md = this.mediaData;
      if (!md) return;
      if (md.mediaStage === 'RESOLVED') return;
      md.mediaStage = 'FETCHING';
      try {
        const buf = await fetchMedia(this.directPath);
        md.set({ mediaStage: 'RESOLVED', size: buf.byteLength });
        hide(md, 'mediaBlob', new Blob([buf], { type: this.mimetype || '' }));
      } catch (_) {
        md.mediaStage = 'ERROR_MISSING';
      }
    }
    serialize() {
      const o = super.serialize();
      const id = this.id;
      o.id = { fromMe: id.fromMe, remote: id.remote, id: id.id, participant: id.participant };
      if (SEP) o.id.$1 = id.$1;
      else o.id._serialized = id._serialized;
      return o;
    }
  }
  // WAWebMsgReply.canReplyMsg: revoked messages and reactions cannot be quoted.
  function canReplyMsg(m) { return !!m && m.type !== 'revoked' && m.type !== 'reaction'; }
  function avParamsFn() { return { seconds: this.duration || 0, isGif: !!this.isGif }; }
  function avParamsData() { return { seconds: 0, isGif: false }; }

  class Chat extends Model {
    constructor(id) {
      const wid = widOf(id);
      super({ id: wid, name: undefined, t: 0, unreadCount: 0, formattedTitle: '+' + wid.user, mute: { expiration: 0 }, lastReceivedKey: null, archive: false });
      hide(this, 'msgs', new Collection(Msg, (m) => keyStr(m.id)));
      hide(this.msgs, 'comparator', (a, b) => (a.t || 0) - (b.t || 0));
      // Whether earlier messages remain on the phone (WAWebChatLoadMessages reads and sets it).
      hide(this.msgs, 'msgLoadState', { noEarlierMsgs: true, isLoadingEarlierMsgs: false });
      if (wid.isGroup()) {
        hide(this, 'groupMetadata', new Model({ id: wid, isLidAddressingMode: SEP, announce: false, participants: { _models: [] } }));
      }
    }
  }

  // --- others' presence (WAWebPresenceCollection; wa-js PresenceModel / ChatstateModel) ---------
  // A person's presence model holds `isOnline` and one chat state {type, t, deny}; a group's holds
  // one chat state per member in `chatstates`. A chat state's changes re-fire on its presence as
  // `change:chatstate.<attr>` (what wa-js listens to on the collection).

  class Chatstate extends Model {
    constructor(id) { super({ id: widOf(id), type: undefined, t: undefined, deny: false }); }
  }
  class Presence extends Model {
    constructor(id) {
      const wid = widOf(id);
      const cs = new Chatstate(wid);
      super({ id: wid, isOnline: false, hasData: false, isSubscribed: false, stale: true, chatstate: cs });
      cs.on('change:type', (m, v) => this.trigger('change:chatstate.type', m, v));
      cs.on('change:t', (m, v) => this.trigger('change:chatstate.t', m, v));
      const states = new Collection(Chatstate, (c) => c.id._serialized);
      hide(states, 'gadd', (pid) => states.get(widOf(pid)._serialized) || states.add(new Chatstate(pid))[0]);
      hide(this, 'chatstates', states);
    }
    // Asks WhatsApp's server for this chat's presence from now on.
    subscribe() { return subscribePresence(this.id); }
  }

  // --- state -----------------------------------------------------------------------------------

  const Socket = new Model({ state: 'OPENING', hasSynced: false, stream: 'DISCONNECTED' });
  const Conn = new Model({ ref: null, pushname: null, platform: 'smba', battery: 100, plugged: true });
  Conn.serialize = function () { return { ref: this.ref, pushname: this.pushname, platform: this.platform, battery: this.battery, plugged: this.plugged, phone: { wa_version: CFG.version } }; };
  const Cmd = new Emitter();
  Cmd.sendRevokeMsgs = (chat, what, opts) => sendRevokeMsgs(chat, what, opts);
  const Stream = new Model({ available: false });
  const MsgCollection = new Collection(Msg, (m) => keyStr(m.id));
  MsgCollection.getMessagesById = (ids) => Promise.resolve({ messages: ids.map((i) => MsgCollection.get(i)).filter(Boolean) });
  const ChatCollection = new Collection(Chat, (c) => c.id._serialized);
  const ContactCollection = new Collection(Model, (c) => c.id._serialized);
  const PresenceCollection = new Collection(Presence, (p) => p.id._serialized);
  PresenceCollection.gadd = (w) => PresenceCollection.get(widOf(w)._serialized) || PresenceCollection.add(new Presence(w))[0];
  PresenceCollection.find = (w) => Promise.resolve(PresenceCollection.gadd(w));
  // Contact.find resolves a contact for any user id, as the real collection does (it asks the
  // server for one it does not have).
  ContactCollection.find = (idOrWid) => Promise.resolve(contactFor(widOf(idOrWid)));

  // Calls (wa-web-surface §7.2 `call`, §10.2 `WAWebCallCollection`): the module is the
  // collection itself, an emitter whose calls sit in a Map held by an own enumerable property
  // (the reference client finds it by `instanceof Map` and wraps its `set`). A call model has
  // `id`, `peerJid` (the caller), `isVideo`, `isGroup`, `canHandleLocally`, `outgoing`,
  // `webClientShouldHandle`, `participants`, `offerTime` (unix seconds) and `getState()`.
  class CallModel extends Model {
    getState() { return this.state; }
  }
  class CallCollectionClass extends Emitter {
    constructor() {
      super();
      this.callMap = new Map();
    }
    get(id) { return this.callMap.get(String(id)); }
    getModelsArray() { return Array.from(this.callMap.values()); }
    findFirst(pred) { return this.getModelsArray().find(pred); }
    add(call) {
      if (this.callMap.has(call.id)) return call;
      // Through the property, so a wrapped `set` sees every call.
      this.callMap.set(call.id, call);
      this.trigger('add', call, this);
      return call;
    }
    remove(call) {
      if (!this.callMap.delete(call.id)) return;
      this.trigger('remove', call, this);
    }
  }
  const CallCollection = new CallCollectionClass();
  function onCallOffer(c) {
    learnLid(c.from, c.fromPn);
    const peer = widOf(c.from);
    contactFor(peer);
    CallCollection.add(new CallModel({
      id: c.id, peerJid: peer, isVideo: !!c.isVideo, isGroup: !!c.isGroup, canHandleLocally: false,
      outgoing: false, webClientShouldHandle: false, participants: c.isGroup ? [peer] : [], offerTime: c.t,
      state: 'INCOMING_RING',
    }));
    render();
  }
  // The caller hung up, the ring time ran out, or a device rejected it: the call leaves the
  // collection.
  function onCallEnd(c) {
    const call = CallCollection.get(c.id);
    if (!call) return;
    call.state = c.reason === 'rejected' ? 'REJECTED' : 'MISSED';
    CallCollection.remove(call);
    render();
  }
  // Raw stanzas (WAWap.wap nodes), cast through WADeprecatedSendIq as the reference client's
  // rejectCall does. Attributes may be Wids (its older code passes USER_JID objects).
  class WapNode {
    constructor(tag, attrs, content) {
      this.tag = tag;
      this.attrs = attrs || {};
      this.content = content;
    }
  }
  function nodeJson(n) {
    const attrs = {};
    for (const [k, v] of Object.entries(n.attrs || {})) attrs[k] = v == null ? v : String(v._serialized || v);
    return { tag: n.tag, attrs, content: Array.isArray(n.content) ? n.content.map(nodeJson) : null };
  }
  const Wap = {
    wap: (tag, attrs, content) => new WapNode(tag, attrs, content),
    generateId: () => String(Date.now()) + '.' + Math.floor(Math.random() * 1e6),
    USER_JID: (s) => widOf(s),
  };
  async function deprecatedCastStanza(node) {
    requireLinked();
    if (!(node instanceof WapNode)) throw new TypeError('deprecatedCastStanza: not a stanza');
    await post('/stanza', { page: pageId, stanza: nodeJson(node) });
  }

  // LID <-> phone mapping the page knows (WAWebApiContact): own ids, senders' `sender_pn`,
  // and answers of the exists query. Keys and values are serialised Wids.
  const lidToPn = new Map();
  const pnToLid = new Map();
  function learnLid(lid, pn) {
    if (!lid || !pn) return;
    lidToPn.set(lid, pn);
    pnToLid.set(pn, lid);
    const c = ContactCollection.get(lid);
    if (c && !c.phoneNumber) c.phoneNumber = new Wid(pn);
  }
  function contactFor(wid, pushname) {
    let c = ContactCollection.get(wid._serialized);
    if (!c) {
      const isMe = !!(me && (wid.equals(me.pn) || (me.lid && wid.equals(me.lid))));
      c = new Model({
        id: wid, name: undefined, pushname: pushname || (isMe ? Conn.pushname : undefined), shortName: undefined,
        isMe, isUser: wid.isUser(), isGroup: wid.isGroup(), isWAContact: true, isMyContact: false, isBusiness: false,
        isBlocked: false, verifiedName: undefined, phoneNumber: wid.isLid() && lidToPn.has(wid._serialized) ? new Wid(lidToPn.get(wid._serialized)) : undefined,
      });
      ContactCollection.add(c);
    } else if (pushname && !c.pushname) {
      c.pushname = pushname;
    }
    return c;
  }

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
    if (me.lid) learnLid(me.lid._serialized, me.pn._serialized);
    contactFor(me.pn, pushname);
  }

  async function syncThenReady() {
    // 2026-09: the page does not sync before its module graph has settled.
    await modulesSettled;
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
    // Conn.ref keeps its last value while pairing (the real page does not null it).
    Socket.state = 'PAIRING';
    passkey.state = passkey.state === 'PENDING' ? 'APPROVED' : passkey.state;
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
      if (m.type === 'group_notification') {
        onGroupNotification(m, false);
        continue;
      }
      const key = new MsgKey({ fromMe: false, to: m.remote, id: m.id, participant: m.author || undefined });
      if (MsgCollection.get(keyStr(key))) continue;
      onIncoming(m, false);
    }
  }

  // An edited message keeps the edit's key and its sender's time (what WhatsApp's own message
  // processing writes, and what the store keeps after a reload).
  function markEdited(m, tMs) {
    m.latestEditMsgKey = new MsgKey({ fromMe: m.id.fromMe, to: m.id.remote, id: 'E' + m.id.id.slice(1), participant: m.id.participant || undefined });
    m.latestEditSenderTimestampMs = tMs || Date.now();
  }

  function onIncoming(m, isNew) {
    // `fromMe`: the account's own phone sent it; WhatsApp relays it to this device as ours.
    const fromMe = !!m.fromMe;
    const key = new MsgKey({ fromMe, to: m.remote, id: m.id, participant: m.author || undefined });
    if (MsgCollection.get(keyStr(key))) return; // already restored from the store
    // 2026-09: senders are LIDs; the stanza's sender_pn feeds the page's mapping (when given).
    learnLid(m.remote, m.senderPn);
    learnLid(m.author, m.authorPn);
    const sender = widOf(m.author || m.remote);
    if (sender.isUser() && !fromMe) contactFor(sender, m.notifyName || undefined);
    // Ours in a LID chat are from our LID, as in history (historyMsg).
    const mine = me ? (fromMe && widOf(m.remote).isLid() && me.lid ? me.lid : me.pn) : null;
    const props = {
      id: key, from: fromMe ? mine : widOf(m.remote), to: fromMe ? widOf(m.remote) : mine,
      author: m.author ? widOf(m.author) : undefined,
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
    if (m.quoted) {
      // A reply: the stanza's context info names the quoted message's key id and author.
      const q = m.quoted;
      const remote = widOf(m.remote);
      const participant = q.fromMe && me ? (remote.isLid() && me.lid ? me.lid : me.pn) : widOf(q.participant || m.remote);
      const quoted = MsgCollection.get([String(!!q.fromMe), remote._serialized, q.stanzaId].join('_'));
      Object.assign(props, {
        quotedStanzaID: q.stanzaId, quotedParticipant: participant,
        quotedMsg: quoted ? { type: quoted.type, body: quoted.body } : { type: 'chat', body: '' },
      });
    }
    if (m.vcards && m.vcards.length) {
      // One card: a `vcard` with the card as body; several: `multi_vcard` with `vcardList`.
      const name = (v) => (/\nFN:([^\r\n]*)/.exec(v) || [])[1] || '';
      if (m.vcards.length === 1) Object.assign(props, { type: 'vcard', body: m.vcards[0], vcardFormattedName: name(m.vcards[0]) });
      else Object.assign(props, { type: 'multi_vcard', body: '', vcardList: m.vcards.map((v) => ({ displayName: name(v), vcard: v })) });
    }
    if (m.mentions && m.mentions.length) props.mentionedJidList = m.mentions.map(widOf);
    // Forwarded by its sender: the stanza's context info carries the flag and the count.
    if (m.forwardingScore) Object.assign(props, { isForwarded: true, forwardingScore: m.forwardingScore });
    if (m.poll) {
      // A poll creation message: options carry their localId; the votes are encrypted with the
      // message secret, so every poll has one.
      Object.assign(props, {
        type: 'poll_creation', body: '', pollName: m.poll.name,
        pollOptions: m.poll.options.map((name, localId) => ({ name, localId })),
        pollSelectableOptionsCount: m.poll.selectableCount, messageSecret: crypto.getRandomValues(new Uint8Array(32)),
      });
    }
    if (m.location) {
      Object.assign(props, { type: 'location', body: '', lat: m.location.lat, lng: m.location.lng, loc: m.location.loc || undefined });
    }
    const chat = chatFor(m.remote);
    const msg = new Msg(props);
    if (m.edited) markEdited(msg, m.edited);
    chat.msgs.add(msg);
    chat.t = Math.max(chat.t || 0, m.t || 0);
    if (!fromMe) chat.unreadCount = chat.unreadCount + 1;
    MsgCollection.add(msg);
    render();
  }

  // --- presence: subscriptions and what the server sends ---------------------------------------

  // WAWebContactPresenceBridge: the server sends a chat's presence only after this; its answer
  // carries the person's last known online state.
  async function subscribePresence(w) {
    requireLinked();
    const wid = widOf(w);
    const presence = PresenceCollection.gadd(wid);
    const j = await post('/presence/subscribe', { page: pageId, id: wid._serialized });
    presence.isSubscribed = true;
    if (j.presence && !wid.isGroup()) onPresence({ id: wid._serialized, type: j.presence.type, t: j.presence.t });
  }

  // WAWebChangePresenceHandlerAction, for a subscribed chat: a person's online flag and chat
  // state, or a group member's chat state. `idle` (stopped typing) falls back to online or
  // offline; typing and recording expire after 25 s. The online flag is set first (ours: the
  // dump shows only the chat state's half).
  const TYPING_EXPIRES_MS = 25000;
  function onPresence(p) {
    const presence = PresenceCollection.get(p.id);
    if (!presence) return;
    learnLid(p.user, p.senderPn);
    const group = presence.id.isGroup();
    let type = p.type;
    if (!group && (type === 'available' || type === 'unavailable')) presence.isOnline = type === 'available';
    if (type === 'idle') type = presence.isOnline || group ? 'available' : 'unavailable';
    let cs;
    if (group) {
      if (!p.participant) return;
      cs = presence.chatstates.gadd(p.participant);
    } else {
      cs = presence.chatstate;
    }
    if (cs.expireTimerId) clearTimeout(cs.expireTimerId);
    cs.set({ t: type === 'unavailable' ? p.t : cs.t, type });
    if (type === 'typing' || type === 'recording_audio') {
      hide(cs, 'expireTimerId', setTimeout(() => { cs.type = presence.isOnline || group ? 'available' : 'unavailable'; }, TYPING_EXPIRES_MS));
    }
    presence.set({ hasData: true, isSubscribed: true, stale: false });
  }

  // --- reactions (wa-web-surface §5.1 sendReactionToMsg, §7.2 reaction table) -------------------
  // Every reaction, ours and others', set or taken back, is written to the reaction table with
  // `bulkUpsert`; records carry serialised keys and a millisecond timestamp.

  const reactions = new Map(); // msgKey -> record
  const reactionTableMode = {
    bulkUpsert(records) {
      for (const r of [].concat(records || [])) reactions.set(r.msgKey, Object.assign({}, r));
      return Promise.resolve(records);
    },
    get(msgKey) { return reactions.get(msgKey) || null; },
  };

  function onReaction(r) {
    learnLid(r.remote, r.senderPn);
    const sender = widOf(r.sender);
    if (sender.isUser()) contactFor(sender);
    reactionTableMode.bulkUpsert([{
      msgKey: r.key, parentMsgKey: r.parent, senderUserJid: r.sender, reactionText: r.emoji,
      timestamp: r.t * 1000, orphan: MsgCollection.get(r.parent) ? 0 : 1, read: false,
    }]);
    render();
  }

  // --- poll votes (wa-web-surface §7.2 vote_update: the poll vote table) ---------------------------
  // A vote is the voter's whole current choice on one poll, written to the vote table with
  // `bulkUpsert` (one row per voter and poll: a new vote replaces the earlier one). Records carry
  // message keys and Wids, the option `localId`s, and the sender's time in milliseconds.

  const pollVotes = new Map(); // `<poll>|<voter>` -> record
  const pollVoteTableMode = {
    bulkUpsert(records) {
      for (const v of [].concat(records || [])) {
        pollVotes.set(keyStr(v.pollUpdateParentKey) + '|' + String(v.author || v.from), v);
      }
      return Promise.resolve(records);
    },
    getByParent(parentKey) {
      const p = keyStr(parentKey) + '|';
      return Array.from(pollVotes.entries()).filter(([k]) => k.startsWith(p)).map(([, v]) => v);
    },
  };

  // A key of this page from its serialised form (`<fromMe>_<chat>_<id>[_<participant>]`).
  function keyFrom(s) {
    const [fromMe, remote, id, participant] = String(s).split('_');
    return new MsgKey({ fromMe: fromMe === 'true', to: remote, id, participant: participant || undefined });
  }

  function onPollVote(v) {
    learnLid(v.author || v.remote, v.senderPn);
    const voter = widOf(v.author || v.remote);
    if (voter.isUser()) contactFor(voter);
    const poll = MsgCollection.get(v.parent);
    pollVoteTableMode.bulkUpsert([{
      id: new MsgKey({ fromMe: false, to: v.remote, id: v.id, participant: v.author || undefined }),
      pollUpdateParentKey: poll ? poll.id : keyFrom(v.parent),
      author: v.author ? widOf(v.author) : undefined,
      from: widOf(v.remote),
      selectedOptionLocalIds: v.selected.slice(),
      senderTimestampMs: v.t * 1000,
      t: v.t,
      read: false,
    }]);
    render();
  }

  function revokeLocally(m) {
    if (m.type === 'revoked') return;
    m.type = 'revoked';
    m.body = '';
  }

  // WhatsApp allows an edit of an own text for 15 minutes (WhatsApp blog, 2023-05-22).
  const EDIT_WINDOW_S = 15 * 60;
  async function sendMessageEdit(msg, text) {
    requireLinked();
    if (!msg.id.fromMe || msg.type !== 'chat') throw new Error('only own text messages can be edited');
    if (Math.floor(Date.now() / 1000) - msg.t > EDIT_WINDOW_S) throw new Error('the edit window is over');
    const remote = msg.id.remote;
    const from = remote.isLid() && me.lid ? me.lid : me.pn;
    const key = new MsgKey({ from, to: remote, id: await MsgKey.newId(), selfDir: 'out' });
    await post('/send', { page: pageId, id: keyStr(key), chat: remote._serialized, type: 'edit', body: text, target: keyStr(msg.id), t: Math.floor(Date.now() / 1000) });
    msg.latestEditMsgKey = key;
    msg.body = text;
    render();
  }

  // Cmd.sendRevokeMsgs(chat, {list, type}, opts): delete for everyone.
  async function sendRevokeMsgs(chat, { list }) {
    requireLinked();
    for (const msg of [].concat(list || [])) {
      if (!msg.id.fromMe) throw new Error('only own messages can be deleted for everyone');
      const remote = msg.id.remote;
      const from = remote.isLid() && me.lid ? me.lid : me.pn;
      const key = new MsgKey({ from, to: remote, id: await MsgKey.newId(), selfDir: 'out' });
      await post('/send', { page: pageId, id: keyStr(key), chat: remote._serialized, type: 'revoke', target: keyStr(msg.id), t: Math.floor(Date.now() / 1000) });
      revokeLocally(msg);
    }
    render();
  }

  async function sendReactionToMsg(msg, reactionText) {
    requireLinked();
    const remote = msg.id.remote;
    const from = remote.isLid() && me.lid ? me.lid : me.pn;
    const key = new MsgKey({ from, to: remote, id: await MsgKey.newId(), selfDir: 'out' });
    const t = Math.floor(Date.now() / 1000);
    await post('/send', {
      page: pageId, id: keyStr(key), chat: remote._serialized, type: 'reaction', body: reactionText,
      reactionTo: keyStr(msg.id), t,
    });
    reactionTableMode.bulkUpsert([{
      msgKey: keyStr(key), parentMsgKey: keyStr(msg.id), senderUserJid: from._serialized, reactionText,
      timestamp: t * 1000, orphan: 0, read: true,
    }]);
    return { messageSendResult: 'OK' };
  }

  // Messages this device sent before the page (re)loaded, as the real page reads them back from
  // its IndexedDB: in their chats and in the Msg collection, with their last ack.
  function restoreOwn(records) {
    for (const r of records) {
      const prefix = 'true_' + r.chat + '_';
      if (!r.id.startsWith(prefix)) continue;
      const key = new MsgKey({ fromMe: true, to: r.chat, id: r.id.slice(prefix.length) });
      if (MsgCollection.get(keyStr(key))) continue;
      const props = { id: key, from: me ? me.pn : null, to: widOf(r.chat), type: r.type, body: r.body || '', t: r.t, ack: r.ack };
      if (r.poll) {
        Object.assign(props, {
          pollName: r.poll.name, pollOptions: r.poll.options.map((name, localId) => ({ name, localId })),
          pollSelectableOptionsCount: r.poll.selectable_count,
        });
      }
      const msg = new Msg(props);
      chatFor(r.chat).msgs.add(msg);
      MsgCollection.add(msg);
    }
  }

  // --- history: chats and contacts from the phone (history sync), earlier messages on demand ----

  // A message of a chat's history as the page stores it: not new (no notification, no event).
  function historyMsg(chat, m) {
    if (m.author) learnLid(m.author, m.authorPn);
    const key = new MsgKey({ fromMe: !!m.fromMe, to: chat.id, id: m.id, participant: m.author || undefined });
    const known = MsgCollection.get(keyStr(key));
    if (known) return null;
    const peer = widOf(m.author || chat.id);
    return new Msg({
      id: key, from: m.fromMe ? (chat.id.isLid() && me.lid ? me.lid : me.pn) : peer, to: m.fromMe ? chat.id : me.pn,
      author: m.author ? widOf(m.author) : undefined, type: 'chat', body: m.body || '', t: m.t,
      ack: m.fromMe ? 3 : 1, isNewMsg: false,
    });
  }
  function addHistory(chat, list) {
    const msgs = list.map((m) => historyMsg(chat, m)).filter(Boolean);
    chat.msgs.add(msgs);
    MsgCollection.add(msgs);
    for (const m of msgs) chat.t = Math.max(chat.t || 0, m.t || 0);
    return msgs;
  }
  // A chat from a history-sync chunk: its newest messages; earlier ones stay on the phone.
  function applyChat(c) {
    if (c.pn) learnLid(c.id, c.pn);
    const chat = chatFor(c.id);
    if (c.name) chat.set({ name: c.name, formattedTitle: c.name });
    chat.archive = !!c.archived;
    chat.unreadCount = c.unread || 0;
    addHistory(chat, c.messages || []);
    chat.msgs.msgLoadState.noEarlierMsgs = !c.more;
  }
  function applyContact(c) {
    const model = contactFor(new Wid(c.id), c.push_name || undefined);
    model.set({ name: c.name || undefined, shortName: c.name ? String(c.name).split(' ')[0] : undefined, isMyContact: !!c.name, isBusiness: !!c.business });
    if (c.business) model.verifiedName = c.name || c.push_name;
    if (c.push_name) model.pushname = c.push_name;
  }
  // WAWebChatLoadMessages.loadEarlierMsgs: the next batch before the chat's oldest message,
  // fetched from the phone; resolves to the messages added (none once there are no more).
  const EARLIER_BATCH = 20;
  async function loadEarlierMsgs(chat) {
    requireLinked();
    const state = chat.msgs.msgLoadState;
    if (state.noEarlierMsgs || state.isLoadingEarlierMsgs) return [];
    state.isLoadingEarlierMsgs = true;
    try {
      const first = chat.msgs.getModelsArray()[0];
      const j = await post('/history', { page: pageId, chat: chat.id._serialized, before: first ? first.id.id : '', count: EARLIER_BATCH });
      const added = addHistory(chat, j.messages || []);
      state.noEarlierMsgs = !j.more;
      render();
      return added;
    } finally {
      state.isLoadingEarlierMsgs = false;
    }
  }
  // What the server tells about a user (WAWebContactProfilePicThumbBridge, WAWebContactStatusBridge).
  function profileOf(wid) {
    requireLinked();
    return post('/profile', { page: pageId, id: widOf(wid)._serialized });
  }

  // --- groups: the server holds them; the page mirrors each in its chat's groupMetadata ---------

  function applyGroup(g) {
    const chat = chatFor(g.id);
    chat.set({ name: g.subject, formattedTitle: g.subject });
    const parts = new Collection(Model, (p) => p.id._serialized);
    for (const p of g.participants) {
      if (p.pn && p.pn !== p.id) learnLid(p.id, p.pn);
      parts.add(new Model({ id: new Wid(p.id), isAdmin: !!p.isAdmin, isSuperAdmin: !!p.isSuperAdmin }));
    }
    chat.groupMetadata.set({
      subject: g.subject, desc: g.desc || '', owner: new Wid(g.owner), announce: !!g.announce, restrict: !!g.restrict,
      participants: parts, inviteCode: g.inviteCode || undefined,
    });
    // Someone who left keeps the chat, read-only.
    chat.isReadOnly = !!g.left;
    render();
    return chat;
  }
  // Someone else changed a group (wa-web-surface §7.2): the chat's metadata follows, and the
  // chat gets a notification message of type `gp2` — the action as `subtype` (add, remove,
  // leave, promote, demote, subject, description, announce, restrict), `author` (who did it),
  // `recipients` (whom it concerns) and the new subject / description (or `on` / `off`) as body.
  // `isNew` false: read back from the store after a reload.
  function onGroupNotification(c, isNew) {
    const n = c.notification;
    learnLid(n.author, n.authorPn);
    for (const r of n.recipients || []) learnLid(r.id, r.pn);
    const chat = applyGroup(c.group);
    const key = new MsgKey({ fromMe: false, to: c.group.id, id: n.id, participant: n.author });
    if (MsgCollection.get(keyStr(key))) return;
    const author = widOf(n.author);
    if (author.isUser()) contactFor(author);
    const msg = new Msg({
      id: key, from: widOf(c.group.id), to: me ? me.pn : null, author, type: 'gp2', subtype: n.subtype,
      recipients: (n.recipients || []).map((r) => widOf(r.id)), body: n.body || '', t: n.t, ack: 1, isNewMsg: isNew !== false,
    });
    chat.msgs.add(msg);
    chat.t = Math.max(chat.t || 0, n.t || 0);
    MsgCollection.add(msg);
    render();
  }
  // One group operation on WhatsApp's servers; a refusal comes back as the server's error text.
  async function groupOp(op, fields) {
    requireLinked();
    const j = await post('/group', Object.assign({ page: pageId, op }, fields));
    applyGroup(j.group);
    return j;
  }
  const gidOf = (x) => (x && x.id ? widOf(x.id) : widOf(x))._serialized;
  const widsOf = (list) => [].concat(list || []).map((w) => widOf(w)._serialized);
  // Per participant: { wid, error? } (error: 403 privacy, 404 not on WhatsApp, 409 already in).
  const participantResults = (j) => (j.results || []).map((r) => (r.code === 200 ? { wid: new Wid(r.id) } : { wid: new Wid(r.id), error: r.code }));
  const GROUP_IMPL = {
    WAWebGroupCreateJob: {
      createGroup: async (opts, participants) => {
        const j = await groupOp('create', { subject: (opts && (opts.title || opts.subject)) || '', participants: widsOf(participants) });
        return { wid: new Wid(j.group.id), participants: participantResults(j) };
      },
    },
    WAWebModifyParticipantsGroupAction: {
      addParticipants: async (chat, wids) => participantResults(await groupOp('add', { group: gidOf(chat), participants: widsOf(wids) })),
      removeParticipants: async (chat, wids) => participantResults(await groupOp('remove', { group: gidOf(chat), participants: widsOf(wids) })),
      promoteParticipants: async (chat, wids) => participantResults(await groupOp('promote', { group: gidOf(chat), participants: widsOf(wids) })),
      demoteParticipants: async (chat, wids) => participantResults(await groupOp('demote', { group: gidOf(chat), participants: widsOf(wids) })),
    },
    WAWebGroupModifyInfoJob: {
      setGroupSubject: async (groupWid, subject) => { await groupOp('subject', { group: gidOf(groupWid), subject }); },
      // 2026-09: one options object (anchors §3.2); 2026-01: positional arguments.
      setGroupDescription: SEP
        ? async (o) => {
          if (!o || typeof o !== 'object' || !o.groupWid) throw new TypeError('setGroupDescription: expected {desc, groupWid, newDescId, prevDescId}');
          await groupOp('description', { group: gidOf(o.groupWid), description: o.desc || '' });
        }
        : async (groupWid, desc) => {
          if (!(groupWid instanceof Wid) && typeof groupWid !== 'string') throw new TypeError('setGroupDescription: groupWid is not a Wid');
          await groupOp('description', { group: gidOf(groupWid), description: desc || '' });
        },
    },
    WAWebSetPropertyGroupAction: {
      setGroupProperty: async (chat, property, value) => { await groupOp('property', { group: gidOf(chat), property, value: !!value }); },
    },
    WAWebExitGroupAction: { sendExitGroup: async (chat) => { await groupOp('leave', { group: gidOf(chat) }); } },
    WAWebGroupQueryJob: {
      queryAndUpdateGroupMetadataById: async ({ id }) => (await groupOp('query', { group: gidOf(id) })).group,
    },
  };

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
      case 'reaction': return onReaction(c.reaction);
      case 'group_notification': return onGroupNotification(c);
      case 'call_offer': return onCallOffer(c.call);
      case 'call_end': return onCallEnd(c);
      case 'poll_vote': return onPollVote(c.vote);
      case 'presence': return onPresence(c.presence);
      case 'edit': {
        // The sender edited: the edit's key and time are noted, then the text changes in place
        // (change:body).
        const m = MsgCollection.get(c.id);
        if (m && m.type !== 'revoked') {
          markEdited(m, c.t);
          if (m.type === 'chat') m.body = c.body;
          else m.caption = c.body;
        }
        render();
        return;
      }
      case 'revoke': {
        // Deleted for everyone: the type turns `revoked`, then the text goes.
        const m = MsgCollection.get(c.id);
        if (m) revokeLocally(m);
        render();
        return;
      }
      case 'ack': {
        const m = MsgCollection.get(c.id);
        if (m) m.ack = c.ack;
        render();
        return;
      }
      case 'logout': return logoutNow('logout');
      case 'chat': applyChat(c.chat); render(); return;
      case 'contact': applyContact(c.contact); render(); return;
      case 'passkey_prologue_request': return onPasskeyPrologue(c);
      case 'passkey_result': return onPasskeyResult(c);
      case 'state': {
        // An unlinked page has no QR reference; reset quietly (no change:ref with null).
        if (c.state === 'UNPAIRED') Conn._attrs.ref = null;
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

  // --- passkey prologue on linking (2026-09; anchors §3.2 last row) -------------------------------
  // After a scan or a code, the server may send `passkey_prologue_request`: the page asks for a
  // WebAuthn assertion (rpId whatsapp.com, userVerification required) before linking completes.
  // The page stays PAIRING and shows the prompt; the phone side (control API) approves or denies.

  const passkey = { state: 'NONE', request: null };
  function onPasskeyPrologue(c) {
    stopQr();
    passkey.state = 'PENDING';
    passkey.request = { reason: c.reason || null, rpId: 'whatsapp.com', userVerification: 'required', challenge: c.challenge || null };
    Socket.state = 'PAIRING';
    Cmd.trigger('passkey_prologue_request', Object.assign({}, passkey.request));
    render();
  }
  function onPasskeyResult(c) {
    passkey.state = c.approved ? 'APPROVED' : 'DENIED';
    Cmd.trigger(c.approved ? 'passkey_prologue_approved' : 'passkey_prologue_denied', Object.assign({}, passkey.request));
    // Denied: linking failed; the page offers a fresh QR.
    if (!c.approved) startQr();
    render();
  }

  // --- sending (§6.3, §6.4) ----------------------------------------------------------------------

  function requireLinked() {
    if (!me) throw new Error('not logged in');
  }

  function addAndSendMsgToChat(chat, props) {
    requireLinked();
    if (props.type === 'poll_creation') {
      // Votes are encrypted with the poll's secret: WhatsApp cannot send a poll without one.
      const secret = props.messageSecret;
      if (!secret || secret.length !== 32) throw new Error('poll_creation needs a 32-byte messageSecret');
      if (!props.pollName || !Array.isArray(props.pollOptions) || props.pollOptions.length < 2) {
        throw new Error('poll_creation needs pollName and at least two pollOptions');
      }
    }
    const msg = new Msg(Object.assign({}, props));
    const added = Promise.resolve().then(() => {
      chat.msgs.add(msg);
      chat.t = Math.max(chat.t || 0, msg.t || 0);
      MsgCollection.add(msg);
      render();
      return msg;
    });
    const sent = added.then(async () => {
      const record = {
        page: pageId, id: keyStr(msg.id), chat: msg.to._serialized || String(msg.to), type: msg.type,
        body: msg.type === 'chat' ? msg.body : null, caption: msg.caption || null, mimetype: msg.mimetype || null,
        filename: msg.filename || null, directPath: msg.directPath || null, t: msg.t,
        quotedStanzaID: msg.quotedStanzaID || null,
        quotedParticipant: msg.quotedParticipant ? String(msg.quotedParticipant._serialized || msg.quotedParticipant) : null,
        lat: typeof msg.lat === 'number' ? msg.lat : null, lng: typeof msg.lng === 'number' ? msg.lng : null,
        loc: msg.loc || null,
        vcards: msg.type === 'vcard' ? [msg.body] : msg.type === 'multi_vcard' ? (msg.vcardList || []).map((v) => v.vcard) : null,
        mentions: Array.isArray(msg.mentionedJidList) && msg.mentionedJidList.length
          ? msg.mentionedJidList.map((w) => String((w && w._serialized) || w)) : null,
        isForwarded: !!msg.isForwarded,
        forwardingScore: msg.forwardingScore || 0,
        poll: msg.type === 'poll_creation' ? {
          name: msg.pollName,
          options: msg.pollOptions.slice().sort((a, b) => a.localId - b.localId).map((o) => o.name),
          selectable_count: msg.pollSelectableOptionsCount,
        } : null,
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
      hide(data, 'toJSON', function () {
        const j = {};
        for (const [k, v] of Object.entries(this._attrs)) if (k !== 'mediaBlob') j[k] = v;
        return j;
      });
      if (SEP) {
        data.set('avParams', avParamsData());
        // The media model's own private id slot, enumerable like WhatsApp's `__x_` fields: spread
        // into a message's props it overrides the message key (see Msg).
        data.__x_id = 'media-' + hash;
      } else {
        hide(data, 'avParams', avParamsFn);
      }
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

  // --- server round trips shared by modules ------------------------------------------------------

  async function queryExists(w) {
    const j = await post('/exists', { page: pageId, number: w.user, server: w.server });
    if (!SEP) return j.exists ? { wid: w } : null;
    // 2026-09: the answer carries the other half of the LID <-> phone pair when WhatsApp shares it.
    if (w.isLid()) learnLid(w._serialized, j.pn);
    else learnLid(j.lid, w._serialized);
    return j.exists ? { wid: w, lid: j.lid ? new Wid(j.lid) : undefined } : null;
  }

  async function fetchMedia(directPath) {
    const q = new URLSearchParams({ path: directPath, page: pageId || '' });
    const r = await fetch(API + '/media?' + q);
    if (!r.ok) throw new Error('download failed: HTTP ' + r.status);
    return r.arrayBuffer();
  }

  // --- lazy modules (2026-09: absent until the Bootloader fetches their component's bundle) -------
  // Component names and which modules their bundles carry: wa-js src/loader/lazyModules.ts
  // (anchors-2026-11.md §3.2, §3.3). Group creation rides with the new-group flow (our choice).

  const FORWARD = ['WAWebMediaForwardMediaMsg', 'WAWebChatForwardMessage', 'WAWebForwardMessagesToChat'];
  const INVITE = ['WAWebGroupInviteJob', 'WAWebGroupInviteAction', 'WAWebMexFetchGroupInviteCodeJob'];
  const BUNDLES = {
    WAWebMediaForwardMediaMsg: FORWARD,
    'WAWebForwardMessageFlow.react': FORWARD,
    'WAWebForwardMessageModal.react': FORWARD,
    'WAWebNewGroupFlow.react': ['WAWebGroupCreateJob', 'WAWebGroupCommunityJob'],
    'WAWebCommunityFlow.react': ['WAWebGroupCommunityJob'],
    'WAWebDeactivateCommunityDrawer.react': ['WAWebGroupCommunityJob'],
    'WAWebGroupInviteLinkDrawer.react': INVITE,
    'WAWebGroupInviteLinkModal.react': INVITE,
    'WAWebPrivacyVisibilityEditDrawer.react': ['WAWebSetPrivacyForOneCategoryAction'],
    'WAWebEventsCreateEventModalFlow.react': ['WAWebGenerateEventCallLink'],
    'WAWebViewCommunityMembersModal.react': ['WAWebGroupGetCommunityParticipantsJob'],
  };
  // An id the registry knows before its bundle is fetched: require answers null, not a throw.
  const PREDECLARED = ['WAWebGroupCommunityJob'];
  // Registered when the page script runs, in both eras (the auth stage and the loader).
  const CORE_MODULES = [
    'WAWebSocketModel', 'WAWebConnModel', 'WAWebCmd', 'WAWebOfflineHandler', 'WAWebMiscBrowserUtils',
    'WAWebSignalStoreApi', 'WAWebUserPrefsInfoStore', 'WABase64', 'WAWebUserPrefsMultiDevice',
    'WAWebAdvSignatureApi', 'WAWebCompanionRegClientUtils', 'WAWebAltDeviceLinkingApi', 'WAWebLaunchSocketUtils',
    'WAWebShortcakeLinkingHandlePasskeyPrologueRequest', 'Bootloader', '__debug',
  ];

  // Forwarding (WAWebChatForwardMessage, from a dump of the module): each message is copied
  // (`toJSON()` minus its key, addressing, reply context, edit and poll bookkeeping), keyed anew
  // for the chat, marked as the page marks forwards, and sent through addAndSendMsgToChat.
  // WAWebMsgGetters.getShouldDisplayAsForwarded: a copy shows "Forwarded" unless it copies the
  // account's own original.
  function displaysAsForwarded(m) { return !!m.isForwarded || !(m.id && m.id.fromMe); }
  // WAWebMsgModelUtils.getMsgForwardingScoreWhenForwarded: the times forwarded so far
  // (`forwardingScore`, else 1 for a forwarded message), plus this one when it shows; 5 and up
  // is the "forwarded many times" sentinel 127.
  function scoreWhenForwarded(m) {
    const times = m.forwardingScore == null ? (m.isForwarded ? 1 : 0) : m.forwardingScore || 0;
    const n = times + (displaysAsForwarded(m) ? 1 : 0);
    return n >= 5 ? 127 : n;
  }
  // WAWebMsgActionCapability.canForwardMsg: what the page's forward menu offers.
  const UNFORWARDABLE = ['revoked', 'gp2', 'notification', 'notification_template', 'e2e_notification', 'protocol', 'reaction', 'ciphertext', 'call_log', 'poll_update'];
  function canForwardMsg(m) { return !!m && !UNFORWARDABLE.includes(m.type); }
  const NOT_COPIED = ['id', 'from', 'to', 't', 'ack', 'local', 'self', 'isNewMsg', 'author', 'participant', 'notifyName',
    'quotedMsg', 'quotedParticipant', 'quotedRemoteJid', 'quotedStanzaID', 'latestEditMsgKey', 'messageSecret',
    'pollOptions', 'pollSelectableOptionsCount', 'clientReceivedTsMillis', 'recvFresh', 'star', 'broadcast'];
  const isMediaMsg = (m) => !!(m.mimetype || m.directPath);
  async function forwardOne(chat, m, multicast) {
    const from = chat.id.isLid() && me.lid ? me.lid : me.pn;
    const key = new MsgKey({ from, to: chat.id, id: await MsgKey.newId(), selfDir: 'out' });
    const data = m.toJSON();
    for (const k of NOT_COPIED) delete data[k];
    // A poll travels as a snapshot of its results.
    if (m.type === 'poll_creation') data.type = 'poll_result_snapshot';
    const props = Object.assign(data, {
      id: key, from, to: chat.id, ack: 0, local: true, self: 'out', t: Math.floor(Date.now() / 1000), isNewMsg: true,
      star: false, isForwarded: displaysAsForwarded(m), forwardedFromWeb: true, forwardingScore: scoreWhenForwarded(m),
      multicast: !!multicast,
    });
    const [added, sent] = addAndSendMsgToChat(chat, props);
    const msg = await added;
    await sent;
    return msg;
  }
  // forwardMessages({chat, msgs, multicast, includeCaption, appendedText}): resolves to the media
  // messages it could not forward; any other failure only goes to the log (no copy appears).
  async function forwardMessages({ chat, msgs, multicast }) {
    requireLinked();
    const failed = [];
    for (const m of [].concat(msgs || [])) {
      try {
        if (!canForwardMsg(m)) throw new Error('cannot forward a ' + (m && m.type) + ' message');
        await forwardOne(chat, m, multicast);
      } catch (e) {
        console.warn('[chat forward message] error during forwarding message', e);
        if (m && isMediaMsg(m)) failed.push(m);
      }
    }
    return failed;
  }
  // The other lazy modules answer locally: groups, invites, privacy and events are not simulated
  // beyond being present (sim/README.md).
  const LAZY_IMPL = {
    WAWebMediaForwardMediaMsg: { forwardMediaMsg: ({ chat, msg, multicast }) => forwardOne(chat, msg, multicast).then((m) => ({ messageSendResult: 'OK', msg: m })) },
    WAWebChatForwardMessage: { forwardMessages },
    WAWebForwardMessagesToChat: {
      forwardMessagesToChats: async (msgs, chats) => {
        for (const chat of [].concat(chats)) await forwardMessages({ chat, msgs });
        return true;
      },
    },
    WAWebGroupCreateJob: { createGroup: (...a) => GROUP_IMPL.WAWebGroupCreateJob.createGroup(...a) },
    WAWebGroupCommunityJob: { deactivateCommunity: async () => ({}) },
    WAWebGroupInviteJob: { joinGroupViaInvite: async (code) => ({ gid: new Wid((await groupOp('join', { code: String(code) })).group.id) }) },
    WAWebGroupInviteAction: { resetGroupInviteCode: async (g) => ({ code: (await groupOp('revoke', { group: gidOf(g) })).group.inviteCode }) },
    WAWebMexFetchGroupInviteCodeJob: { fetchMexGroupInviteCode: async (g) => (await groupOp('invite', { group: gidOf(g) })).group.inviteCode },
    WAWebSetPrivacyForOneCategoryAction: { setPrivacyForOneCategory: async () => ({ ok: true }) },
    WAWebGenerateEventCallLink: { createEventCallLink: async (_t, kind) => 'https://call.whatsapp.com/' + (kind || 'voice') + '/sim' + Date.now().toString(36) },
    WAWebGroupGetCommunityParticipantsJob: { getCommunityParticipants: async () => [] },
  };
  const LAZY_MODULES = new Set(Object.keys(LAZY_IMPL));

  const componentMap = new Map();
  const Bootloader = {
    // Fetches the bundles of `components`, registers their modules, then calls `callback`. An
    // unknown component throws at once (wa-js src/loader/index.ts).
    loadModules(components, callback, _context) {
      for (const c of components) {
        if (!componentMap.has(c)) throw new Error('Bootloader: unknown component "' + c + '"');
      }
      // About 25 ms per bundle on the real page (wa-js lazyModules.ts).
      setTimeout(() => {
        for (const c of components) {
          for (const m of BUNDLES[c] || []) window.__d(m, [], () => LAZY_IMPL[m]);
        }
        if (typeof callback === 'function') callback();
      }, 25);
    },
    __debug: { componentMap },
  };

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
    WAWebCallCollection: CallCollection,
    WAWap: Wap,
    WADeprecatedSendIq: { deprecatedCastStanza },
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
      findOrCreateLatestChat: async (wid) => {
        requireLinked();
        let w = widOf(wid);
        // 2026-09: one-to-one chats live under the LID (the phone form finds the same chat).
        if (SEP && w.server === 'c.us') {
          if (!pnToLid.has(w._serialized)) await queryExists(w).catch(() => null);
          if (pnToLid.has(w._serialized)) w = new Wid(pnToLid.get(w._serialized));
        }
        return { chat: chatFor(w._serialized) };
      },
    },
    WAWebChatLoadMessages: { loadEarlierMsgs },
    // WAWebBlockContactAction (wa-web-surface §5.1 BlockContact): the contact model, not a Wid.
    WAWebBlockContactAction: {
      blockContact: async ({ contact }) => {
        requireLinked();
        await post('/block', { page: pageId, id: contact.id._serialized, on: true });
        contact.isBlocked = true;
      },
      unblockContact: async (contact) => {
        requireLinked();
        await post('/block', { page: pageId, id: contact.id._serialized, on: false });
        contact.isBlocked = false;
      },
    },
    WAWebModifyParticipantsGroupAction: GROUP_IMPL.WAWebModifyParticipantsGroupAction,
    WAWebGroupModifyInfoJob: GROUP_IMPL.WAWebGroupModifyInfoJob,
    WAWebSetPropertyGroupAction: GROUP_IMPL.WAWebSetPropertyGroupAction,
    WAWebExitGroupAction: GROUP_IMPL.WAWebExitGroupAction,
    WAWebGroupQueryJob: GROUP_IMPL.WAWebGroupQueryJob,
    WAWebContactProfilePicThumbBridge: {
      requestProfilePicFromServer: async (wid) => {
        const j = await profileOf(wid);
        return j.picture ? { id: widOf(wid), eurl: j.picture, tag: String(Date.now()) } : null;
      },
      // Sets a group's picture from two JPEG data URLs (96×96 thumbnail, 640×640 picture).
      sendSetPicture: async (wid, thumb, picture) => {
        await groupOp('picture', { group: gidOf(wid), thumb, picture });
        return { status: 200, tag: String(Date.now()) };
      },
      requestDeletePicture: async (wid) => {
        await groupOp('picture', { group: gidOf(wid), thumb: null, picture: null });
        return { status: 200 };
      },
    },
    WAWebContactStatusBridge: {
      getStatus: async (wid) => {
        const j = await profileOf(wid);
        return { id: widOf(wid), status: j.about || '' };
      },
    },
    WAWebChatGetters: { getIsNewsletter: () => false, getIsBroadcast: () => false },
    WAWebStreamModel: { Stream: { markAvailable: () => { Stream.available = true; }, markUnavailable: () => { Stream.available = false; } } },
    WAWebChatStateBridge: {
      sendChatStateComposing: (wid) => post('/chatstate', { page: pageId, chat: String((wid && wid._serialized) || wid), state: 'composing' }),
      sendChatStateRecording: (wid) => post('/chatstate', { page: pageId, chat: String((wid && wid._serialized) || wid), state: 'recording' }),
      sendChatStatePaused: (wid) => post('/chatstate', { page: pageId, chat: String((wid && wid._serialized) || wid), state: 'paused' }),
    },
    // A read receipt reaches the server (the other side's blue ticks): recorded as state `seen`.
    WAWebUpdateUnreadChatAction: {
      sendSeen: async ({ chat }) => {
        if (!chat) return;
        chat.unreadCount = 0;
        await post('/chatstate', { page: pageId, chat: String((chat.id && chat.id._serialized) || chat.id), state: 'seen' });
      },
    },
    // Online / offline for everyone (§ ChatState / PresenceUtils): recorded with an empty chat.
    WAWebPresenceChatAction: {
      sendPresenceAvailable: () => post('/chatstate', { page: pageId, chat: '', state: 'available' }),
      sendPresenceUnavailable: () => post('/chatstate', { page: pageId, chat: '', state: 'unavailable' }),
    },
    WAWebLinkPreviewChatAction: { getLinkPreview: async () => ({}) },
    WAWebPresenceCollection: { PresenceCollection },
    // Builds since ~2.3000.1039447205 split the subscription into a user's and a group's
    // (wa-js src/whatsapp/functions/subscribePresence.ts): the 2026-09 page has the split.
    WAWebContactPresenceBridge: SEP
      ? { subscribeUserPresence: (w) => subscribePresence(w), subscribeGroupPresence: (w) => { subscribePresence(w).catch(() => {}); } }
      : { subscribePresence: (w) => subscribePresence(w) },
    WAWebMsgKey: MsgKey,
    WAWebMsgReply: { canReplyMsg },
    WAWebMsgActionCapability: { canForwardMsg },
    WAWebSendReactionMsgAction: { sendReactionToMsg },
    WAWebSendMessageEditAction: { sendMessageEdit },
    WAWebAddonReactionTableMode: { reactionTableMode },
    WAWebAddonPollVoteTableMode: { pollVoteTableMode },
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
        return queryExists(widOf(wid));
      },
    },
    WAWebDownloadManager: {
      downloadManager: {
        downloadAndMaybeDecrypt: async ({ directPath, mimetype, type }) => {
          // 2026-09: the download needs the mimetype (anchors §3.2, 2026-07-15: InvalidMediaFileType).
          if (SEP && !mimetype) throw new Error('InvalidMediaFileType: ' + (type || 'unknown'));
          return fetchMedia(directPath);
        },
      },
    },
    WAWebAdvSignatureApi: {
      // The older home of getADVSecretKey; the npm release of the reference client still reads it here.
      getADVSecretKey: async () => (pairingType === 'ALT_DEVICE_LINKING' ? null : creds.adv),
    },
    // LID <-> phone (wa-web-surface.md §5.1 LidUtils, §6.2): sync, a Wid or null when unknown.
    WAWebApiContact: {
      getPhoneNumber: (w) => {
        const wid = widOf(w);
        if (!wid.isLid()) return wid.server === 'c.us' ? wid : null;
        const pn = lidToPn.get(wid._serialized);
        return pn ? new Wid(pn) : null;
      },
      getCurrentLid: (w) => {
        const wid = widOf(w);
        if (wid.isLid()) return wid;
        const lid = pnToLid.get(wid._serialized);
        return lid ? new Wid(lid) : null;
      },
    },
    Bootloader,
    __debug: { modulesMap: null /* set below */ },
  };
  if (SEP) {
    modules.WAWebShortcakeLinkingHandlePasskeyPrologueRequest = {
      getPasskeyPrologueState: () => passkey.state,
      getPasskeyPrologueRequest: () => (passkey.request ? Object.assign({}, passkey.request) : null),
    };
  }
  Object.assign(modules, LAZY_IMPL);

  // --- registration, lazy bundles and the Bootloader (§2.1; anchors-2026-11.md §3.2, §3.3) -------

  const removed = new Set(CFG.removedModules);
  const unmapped = new Set(CFG.unmappedModules || []);
  const finalName = (n) => CFG.renamedModules[n] || n;
  const registered = Object.create(null); // what window.require answers
  const modulesMap = Object.create(null); // require('__debug').modulesMap: what is registered
  modules.__debug.modulesMap = modulesMap;
  function register(name, exports) {
    if (removed.has(name)) return;
    const n = finalName(name);
    registered[n] = exports;
    modulesMap[n] = { factory: () => exports, exports };
  }
  // Meta's module definition: what a bundle runs for each module it carries.
  window.__d = function (name, _deps, factory) {
    register(name, typeof factory === 'function' ? factory() : factory);
  };
  // Component -> the resources of its bundle. Which modules a bundle defines is not published on
  // the page (wa-js keeps its own table); the simulator keeps it in BUNDLES.
  for (const [component, mods] of Object.entries(BUNDLES)) {
    if (mods.some((m) => unmapped.has(m))) continue;
    componentMap.set(component, { r: ['sim-' + component.replace(/\W+/g, '-') + '.js'], be: 1 });
  }

  let modulesSettledResolve;
  const modulesSettled = new Promise((r) => { modulesSettledResolve = r; });
  if (!SEP) {
    // 2026-01: everything is registered when the page script runs.
    for (const [name, exp] of Object.entries(modules)) register(name, exp);
    modulesSettledResolve();
  } else {
    for (const name of CORE_MODULES) if (modules[name]) register(name, modules[name]);
    // Known ids whose bundle was not fetched: require answers null (wa-js isModuleRegistered).
    for (const name of PREDECLARED) if (!removed.has(name)) modulesMap[finalName(name)] = { factory: null };
  }
  // 2026-09: the rest registers in two steps after Debug.VERSION; in the first,
  // WAWebCollections is half there (Msg only).
  function registerLate() {
    const late = Object.keys(modules).filter((n) => !CORE_MODULES.includes(n) && !LAZY_MODULES.has(n));
    const half = late.slice(0, Math.ceil(late.length / 2));
    setTimeout(() => {
      for (const n of half) {
        if (n === 'WAWebCollections') register(n, { Msg: MsgCollection });
        else register(n, modules[n]);
      }
    }, CFG.lateRegistrationMs / 2);
    setTimeout(() => {
      for (const n of late) {
        if (n === 'WAWebCollections' && registered[finalName(n)]) Object.assign(registered[finalName(n)], modules[n]);
        else if (!half.includes(n)) register(n, modules[n]);
      }
      modulesSettledResolve();
    }, CFG.lateRegistrationMs);
  }

  window.require = function (name) {
    if (name in registered) return registered[name];
    if (name in modulesMap) return null;
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
    if (passkey.state === 'PENDING') {
      const box = el('div', 'landing passkey');
      box.appendChild(el('h1', null, 'Confirm it\u2019s you'));
      box.appendChild(el('p', null, 'Use your passkey for whatsapp.com to finish linking this device.'));
      if (passkey.request && passkey.request.reason) box.appendChild(el('p', 'hint', passkey.request.reason));
      root.appendChild(box);
      return;
    }
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
        const text = m.type === 'chat' ? m.body
          : m.type === 'poll_creation' ? '[poll] ' + m.pollName + ' — ' + (m.pollOptions || []).map((o) => o.name).join(' / ')
            : '[' + m.type + '] ' + (m.caption || m.filename || '');
        b.appendChild(el('div', 'text', text));
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
    const hello = await post('/hello', { deviceId: creds.deviceId, linked: !!creds.linked, era: CFG.era });
    pageId = hello.page;
    setTimeout(() => {
      window.Debug = { VERSION: CFG.version };
      if (SEP) registerLate();
      if (hello.linked) {
        setMe(hello.phone, hello.lid, hello.pushname);
        restoreOwn(hello.recent || []);
        restoreReceived(hello.received || []);
        for (const c of hello.contacts || []) applyContact(c);
        for (const c of hello.chats || []) applyChat(c);
      }
      // The store is read before the connection delivers what waited: an edit or a delete
      // made while this device was away applies to a message the store has.
      listen();
      if (hello.linked) {
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
