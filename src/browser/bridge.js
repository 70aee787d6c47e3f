// wagate's bridge into WhatsApp Web. Injected with WebDriver `execute` after every page load.
//
// Rules (see wa-web-surface.md §7.3, §9, §10.3):
// - modules are required lazily, at the point of use, and every member is feature-detected;
// - nothing throws into the driver: every call answers {ok:true,value} or {ok:false,code,message};
// - page events go to a bounded queue with sequence numbers; pushing one rings the gateway (a
//   WebDriver BiDi channel, browser/bidi.rs), which drains the queue (or polls, without BiDi);
// - models are converted to plain JSON at once (WebDriver can only return JSON-cloneable values).
(function () {
  'use strict';
  const VERSION = 2;
  if (window.__wagate && window.__wagate.version === VERSION) return 'present';

  const MAX_EVENTS = 5000;
  const queue = [];
  let seq = 0;
  let dropped = 0;
  const chunks = new Map();
  const subscribed = new Set();

  class BridgeError extends Error {
    constructor(code, message) {
      super(message || code);
      this.code = code;
    }
  }

  function req(name) {
    try {
      const mod = window.require(name);
      if (mod == null) throw new Error('module is empty');
      return mod;
    } catch (e) {
      throw new BridgeError('WA_MODULE_MISSING:' + name, String((e && e.message) || e));
    }
  }

  function member(mod, modName, ...names) {
    for (const n of names) {
      if (mod && mod[n] !== undefined && mod[n] !== null) return mod[n];
    }
    throw new BridgeError('WA_MEMBER_MISSING:' + modName + '.' + names[0], modName + ' has no ' + names.join('/'));
  }

  // Modules that are classes (WAWebMsgKey, WAWebMediaOpaqueData): the module itself, or its default.
  function classOf(name) {
    const mod = req(name);
    const cls = typeof mod === 'function' ? mod : mod.default;
    if (typeof cls !== 'function') throw new BridgeError('WA_MEMBER_MISSING:' + name, name + ' is not a class');
    return cls;
  }

  // Rings the gateway's doorbell (a WebDriver BiDi channel installed by a preload script, when
  // the driver speaks BiDi): the gateway then drains the queue. One ring per burst.
  let ringing = false;
  function ring() {
    if (ringing || typeof window.__wagateBell !== 'function') return;
    ringing = true;
    queueMicrotask(() => {
      ringing = false;
      try { window.__wagateBell(String(seq)); } catch (_) { /* the safety poll still drains */ }
    });
  }

  function push(kind, data) {
    seq += 1;
    queue.push({ seq, kind, data: data === undefined ? null : data, ts: Date.now() });
    if (queue.length > MAX_EVENTS) {
      queue.shift();
      dropped += 1;
    }
    ring();
  }

  function widStr(w) {
    if (w == null) return null;
    if (typeof w === 'string') return w;
    if (w._serialized) return w._serialized;
    if (w.user !== undefined && w.server) return w.user + '@' + w.server;
    return String(w);
  }

  function socket() {
    return member(req('WAWebSocketModel'), 'WAWebSocketModel', 'Socket');
  }

  function me() {
    try {
      const m = req('WAWebUserPrefsMeUser');
      const pn = typeof m.getMaybeMePnUser === 'function' ? m.getMaybeMePnUser() : null;
      const lid = typeof m.getMaybeMeLidUser === 'function' ? m.getMaybeMeLidUser() : null;
      let pushname = null;
      try {
        const conn = req('WAWebConnModel').Conn;
        const info = conn && typeof conn.serialize === 'function' ? conn.serialize() : conn;
        pushname = (info && info.pushname) || null;
      } catch (_) { /* optional */ }
      return { wid: widStr(pn), lid: widStr(lid), pushname };
    } catch (_) {
      return { wid: null, lid: null, pushname: null };
    }
  }

  // The phone number behind a sender: the user part of a `@c.us` id, or what WhatsApp maps a
  // `@lid` to (when it knows).
  function phoneOf(w) {
    const s = widStr(w);
    if (!s) return null;
    if (/@c\.us$/.test(s)) return s.split('@')[0];
    if (!/@lid$/.test(s)) return null;
    try {
      const pn = req('WAWebApiContact').getPhoneNumber(w);
      const p = widStr(pn);
      return p ? p.split('@')[0] : null;
    } catch (_) {
      return null;
    }
  }

  function serializeMsg(m) {
    const id = m.id || {};
    const mediaish = !!(m.directPath || m.mediaKey || m.mimetype);
    return {
      id: id._serialized || widStr(id),
      fromMe: !!id.fromMe,
      remote: widStr(id.remote),
      from: widStr(m.from),
      to: widStr(m.to),
      author: widStr(m.author) || widStr(id.participant),
      type: m.type || null,
      body: typeof m.body === 'string' && !mediaish ? m.body : null,
      caption: typeof m.caption === 'string' ? m.caption : null,
      t: m.t || null,
      ack: typeof m.ack === 'number' ? m.ack : null,
      hasMedia: mediaish,
      mimetype: m.mimetype || null,
      filename: m.filename || null,
      size: m.size || null,
      notifyName: m.notifyName || null,
      authorPhone: phoneOf(m.author || id.participant || (id.fromMe ? null : m.from)),
      isGroup: /@g\.us$/.test(widStr(id.remote) || ''),
    };
  }

  // --- QR ------------------------------------------------------------------------------------------

  function b64(bytes) {
    try {
      const B = req('WABase64');
      const enc = B.encodeB64 || B.encodeB64UrlSafe;
      if (typeof enc === 'function') return enc(bytes);
    } catch (_) { /* fall back to the browser's own */ }
    let s = '';
    for (const c of new Uint8Array(bytes)) s += String.fromCharCode(c);
    return btoa(s);
  }

  async function advSecret() {
    try {
      const m = req('WAWebUserPrefsMultiDevice');
      if (typeof m.getADVSecretKey === 'function') return await m.getADVSecretKey();
    } catch (_) { /* moved between modules before: try the older home */ }
    const m = req('WAWebAdvSignatureApi');
    return await member(m, 'WAWebAdvSignatureApi', 'getADVSecretKey')();
  }

  async function qrPayload() {
    const ref = member(req('WAWebConnModel'), 'WAWebConnModel', 'Conn').ref;
    if (!ref) throw new BridgeError('WA_NO_QR', 'no QR reference yet');
    const noise = await member(req('WAWebUserPrefsInfoStore'), 'WAWebUserPrefsInfoStore', 'waNoiseInfo').get();
    const reg = await member(req('WAWebSignalStoreApi'), 'WAWebSignalStoreApi', 'waSignalStore').getRegistrationInfo();
    const adv = await advSecret();
    const platform = member(req('WAWebCompanionRegClientUtils'), 'WAWebCompanionRegClientUtils', 'DEVICE_PLATFORM');
    return [ref, b64(noise.staticKeyPair.pubKey), b64(reg.identityKeyPair.pubKey), adv, platform].join(',');
  }

  let lastQr = null;
  function emitQr() {
    qrPayload().then(
      (p) => {
        if (p !== lastQr) {
          lastQr = p;
          push('qr', p);
        }
      },
      (e) => push('error', { code: e.code || 'WA_QR_FAILED', message: String(e.message || e) })
    );
  }

  function loadingPercent() {
    try {
      const h = req('WAWebOfflineHandler').OfflineMessageHandler;
      return h.getOfflineDeliveryProgress();
    } catch (_) {
      return null;
    }
  }

  // --- subscriptions (retried on every drain until each succeeds) ---------------------------------

  const subscriptions = {
    socket() {
      const s = socket();
      s.on('change:state', (_m, state) => {
        push('state', state === undefined ? s.state : state);
        if (state === 'UNPAIRED') emitQr();
      });
      s.on('change:hasSynced', () => {
        if (s.hasSynced) push('synced', me());
      });
    },
    conn() {
      const c = member(req('WAWebConnModel'), 'WAWebConnModel', 'Conn');
      c.on('change:ref', () => emitQr());
    },
    cmd() {
      const c = member(req('WAWebCmd'), 'WAWebCmd', 'Cmd');
      let last = -1;
      const progress = () => {
        const p = loadingPercent();
        if (p !== null && p !== last) {
          last = p;
          push('loading', p);
        }
      };
      c.on('offline_progress_update_from_bridge', progress);
      c.on('offline_progress_update', progress);
      c.on('logout', () => push('logout', 'logout'));
      c.on('logout_from_bridge', () => push('logout', 'logout_from_bridge'));
    },
    messages() {
      const Msg = member(req('WAWebCollections'), 'WAWebCollections', 'Msg');
      Msg.on('add', (m) => {
        if (!m || !m.isNewMsg) return;
        const data = serializeMsg(m);
        push(data.fromMe ? 'msg_create' : 'msg_add', data);
      });
      Msg.on('change:ack', (m, ack) => {
        const id = m && m.id && m.id._serialized;
        if (id) push('msg_ack', { id, ack: typeof ack === 'number' ? ack : m.ack });
      });
      Msg.on('change:type', (m) => {
        if (m && m.id) push('msg_type', { id: m.id._serialized, type: m.type });
      });
    },
  };

  function ensureSubscribed() {
    const missing = [];
    for (const [name, fn] of Object.entries(subscriptions)) {
      if (subscribed.has(name)) continue;
      try {
        fn();
        subscribed.add(name);
      } catch (e) {
        missing.push(e.code || String(e.message || e));
      }
    }
    return missing;
  }

  function snapshot() {
    let state = null;
    let hasSynced = false;
    try {
      const s = socket();
      state = s.state || null;
      hasSynced = !!s.hasSynced;
    } catch (_) { /* reported through `missing` */ }
    return { state, hasSynced, me: hasSynced ? me() : null, loading: loadingPercent() };
  }

  // --- sending -----------------------------------------------------------------------------------

  async function findChat(chatId) {
    const wid = member(req('WAWebWidFactory'), 'WAWebWidFactory', 'createWid')(chatId);
    const Chat = member(req('WAWebCollections'), 'WAWebCollections', 'Chat');
    let chat = typeof Chat.get === 'function' ? Chat.get(wid) : null;
    if (!chat) {
      const find = member(req('WAWebFindChatAction'), 'WAWebFindChatAction', 'findOrCreateLatestChat');
      const res = await find(wid);
      chat = res && (res.chat || res);
    }
    if (!chat || !chat.id) throw new BridgeError('WA_CHAT_NOT_FOUND', 'no chat for ' + chatId);
    return chat;
  }

  // `keyId`: the id the gateway chose and stored before sending, so that after a crash the
  // message can be found again (and a resend carries the same id).
  async function baseProps(chat, keyId) {
    const meMod = req('WAWebUserPrefsMeUser');
    const pn = meMod.getMaybeMePnUser ? meMod.getMaybeMePnUser() : null;
    const lid = meMod.getMaybeMeLidUser ? meMod.getMaybeMeLidUser() : null;
    if (!pn && !lid) throw new BridgeError('WA_NOT_READY', 'no own user yet: the session is not linked');
    const isLid = chat.id && typeof chat.id.isLid === 'function' && chat.id.isLid();
    const isGroup = chat.id && typeof chat.id.isGroup === 'function' && chat.id.isGroup();
    let from = isLid ? lid || pn : pn || lid;
    let participant;
    if (isGroup) {
      const lidMode = chat.groupMetadata && chat.groupMetadata.isLidAddressingMode;
      from = lidMode ? lid || pn : pn || lid;
      const wf = req('WAWebWidFactory');
      participant = typeof wf.asUserWidOrThrow === 'function' ? wf.asUserWidOrThrow(from) : from;
    }
    const Key = classOf('WAWebMsgKey');
    const newId = Key.newId;
    if (!keyId && typeof newId !== 'function') throw new BridgeError('WA_MEMBER_MISSING:WAWebMsgKey.newId');
    const id = keyId || (await newId.call(Key));
    const key = new Key({ from, to: chat.id, id, participant, selfDir: 'out' });
    let ephemeral = {};
    try {
      ephemeral = req('WAWebGetEphemeralFieldsMsgActionsUtils').getEphemeralFields(chat) || {};
    } catch (_) { /* optional: disappearing-message fields */ }
    return {
      key,
      props: {
        id: key,
        ack: 0,
        from,
        to: chat.id,
        local: true,
        self: 'out',
        t: Math.floor(Date.now() / 1000),
        isNewMsg: true,
        ...ephemeral,
      },
    };
  }

  function withTimeout(promise, ms) {
    return Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve(undefined), ms))]);
  }

  async function addAndSend(chat, key, props) {
    const send = member(req('WAWebSendMsgChatAction'), 'WAWebSendMsgChatAction', 'addAndSendMsgToChat');
    const result = send(chat, props);
    const [added, sent] = Array.isArray(result) ? result : [result, undefined];
    await added;
    if (sent && typeof sent.then === 'function') {
      // The server ack normally comes fast; a slow one is reported later as an ack event. Once
      // added, the message is in the page's store and WhatsApp Web keeps trying on its own: a
      // rejection here is not a refusal (an error ack, below, is).
      try {
        await withTimeout(sent, 10000);
      } catch (_) { /* settled by its acks */ }
    }
    let msg = null;
    try {
      msg = req('WAWebCollections').Msg.get(key._serialized);
    } catch (_) { /* the id is enough */ }
    if (msg && msg.ack === -1) throw new BridgeError('WA_SEND_FAILED', 'WhatsApp refused the message');
    return { id: key._serialized, t: props.t, ack: msg && typeof msg.ack === 'number' ? msg.ack : 0 };
  }

  function markSeen(chat) {
    try {
      const stream = req('WAWebStreamModel').Stream;
      const unread = req('WAWebUpdateUnreadChatAction');
      if (stream && typeof unread.sendSeen === 'function') {
        stream.markAvailable();
        return Promise.resolve(unread.sendSeen({ chat, threadId: undefined }))
          .catch(() => {})
          .finally(() => stream.markUnavailable());
      }
    } catch (_) { /* optional */ }
    return Promise.resolve();
  }

  // Sends still running in this page, by key id: a resend of the same id (the gateway gave up
  // waiting, the page did not) joins the first instead of sending again.
  const inflight = new Map();
  function once(keyId, start) {
    if (!keyId) return start();
    if (inflight.has(keyId)) return inflight.get(keyId);
    const p = start().finally(() => inflight.delete(keyId));
    inflight.set(keyId, p);
    return p;
  }

  // The recipient as WhatsApp knows it (`WAWebQueryExistsJob`), or a RECIPIENT_NOT_ON_WHATSAPP
  // refusal: checked in the same call as the send when the gateway has not confirmed it lately.
  async function recipient(chatId, check) {
    if (!check) return chatId;
    const found = await api.checkNumber({ chatId });
    if (!found) throw new BridgeError('RECIPIENT_NOT_ON_WHATSAPP', chatId.split('@')[0] + ' is not on WhatsApp');
    return found;
  }

  async function sendText(o) {
    const chat = await findChat(await recipient(o.chatId, o.checkRecipient));
    if (o.markRead) await markSeen(chat);
    const { key, props } = await baseProps(chat, o.keyId);
    return addAndSend(chat, key, { ...props, body: o.body, type: 'chat' });
  }

  // The bytes of a send: inline (`data`, base64) or put in parts before under `uploadId`.
  function takeBytes(o) {
    const parts = typeof o.data === 'string' ? [o.data] : chunks.get(o.uploadId);
    chunks.delete(o.uploadId);
    if (!parts) throw new BridgeError('WA_MEDIA_MISSING', 'no uploaded bytes for ' + o.uploadId);
    const arrays = parts.map((p) => Uint8Array.from(atob(p), (c) => c.charCodeAt(0)));
    const total = arrays.reduce((n, a) => n + a.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  }

  async function sendMedia(o) {
    const bytes = takeBytes(o);
    const chat = await findChat(await recipient(o.chatId, o.checkRecipient));
    if (o.markRead) await markSeen(chat);
    const file = new File([bytes], o.filename || 'file', { type: o.mimetype });
    const OpaqueCls = classOf('WAWebMediaOpaqueData');
    const opaque = await member(OpaqueCls, 'WAWebMediaOpaqueData', 'createFromData').call(OpaqueCls, file, o.mimetype);
    const prep = member(req('WAWebPrepRawMedia'), 'WAWebPrepRawMedia', 'prepRawMedia');
    const mediaData = await prep(opaque, {
      asSticker: !!o.asSticker,
      asGif: false,
      isPtt: !!o.asVoice,
      asDocument: !!o.asDocument,
    }).waitForPrep();
    if (!mediaData || !mediaData.filehash) throw new BridgeError('WA_MEDIA_FAILED', 'media-fault: filehash undefined');
    const storage = member(req('WAWebMediaStorage'), 'WAWebMediaStorage', 'getOrCreateMediaObject');
    const mediaObject = storage(mediaData.filehash);
    const types = req('WAWebMmsMediaTypes');
    const mediaType = member(types, 'WAWebMmsMediaTypes', 'msgToMediaType')({ type: mediaData.type, isGif: mediaData.isGif });
    let blob = mediaData.mediaBlob;
    if (!(blob instanceof OpaqueCls)) blob = await OpaqueCls.createFromData(blob || file, o.mimetype);
    mediaData.renderableUrl = typeof blob.url === 'function' ? blob.url() : undefined;
    if (typeof mediaObject.consolidate === 'function') mediaObject.consolidate(mediaData.toJSON());
    if (typeof blob.autorelease === 'function') blob.autorelease();
    try {
      const du = req('WAWebMediaDataUtils');
      const v4 = typeof types.castToV4 === 'function' ? types.castToV4(mediaData.type) : mediaData.type;
      if (du.shouldUseMediaCache && du.shouldUseMediaCache(v4)) {
        req('WAWebMediaInMemoryBlobCache').InMemoryMediaBlobCache.put(mediaObject.filehash, blob.formData());
      }
    } catch (_) { /* the cache is an optimisation */ }
    const upload = member(req('WAWebMediaMmsV4Upload'), 'WAWebMediaMmsV4Upload', 'uploadMedia');
    const uploaded = await upload({ mimetype: o.mimetype, mediaObject, mediaType });
    const entry = uploaded && uploaded.mediaEntry;
    if (!entry) throw new BridgeError('WA_MEDIA_FAILED', 'upload failed: media entry was not created');
    mediaData.set({
      clientUrl: entry.mmsUrl,
      deprecatedMms3Url: entry.deprecatedMms3Url,
      directPath: entry.directPath,
      mediaKey: entry.mediaKey,
      mediaKeyTimestamp: entry.mediaKeyTimestamp,
      filehash: mediaObject.filehash,
      encFilehash: entry.encFilehash,
      uploadhash: entry.uploadHash,
      size: mediaObject.size,
      streamingSidecar: entry.sidecar,
      firstFrameSidecar: entry.firstFrameSidecar,
      mediaHandle: entry.handle,
    });
    const { key, props } = await baseProps(chat, o.keyId);
    const caption = o.caption || undefined;
    const all = { ...props, ...mediaData, ...mediaData.toJSON(), id: key, body: mediaData.preview, caption };
    if (caption) all.isCaptionByUser = true;
    if (o.asDocument && o.filename) all.filename = o.filename;
    return addAndSend(chat, key, all);
  }

  // --- the call table -----------------------------------------------------------------------------

  const api = {
    state: () => snapshot(),
    me: () => me(),
    qr: () => qrPayload(),
    refreshQr: () => {
      const launch = req('WAWebLaunchSocketUtils');
      return Promise.resolve(member(launch, 'WAWebLaunchSocketUtils', 'refreshQR')()).then(() => true);
    },
    requestPairingCode: async ({ phone }) => {
      const link = req('WAWebAltDeviceLinkingApi');
      member(link, 'WAWebAltDeviceLinkingApi', 'setPairingType')('ALT_DEVICE_LINKING');
      await member(link, 'WAWebAltDeviceLinkingApi', 'initializeAltDeviceLinking')();
      const code = await member(link, 'WAWebAltDeviceLinkingApi', 'startAltLinkingFlow')(phone, true);
      push('code', code);
      return code;
    },
    checkNumber: async ({ chatId }) => {
      const wid = member(req('WAWebWidFactory'), 'WAWebWidFactory', 'createWid')(chatId);
      const res = await member(req('WAWebQueryExistsJob'), 'WAWebQueryExistsJob', 'queryWidExists')(wid);
      return res && res.wid ? widStr(res.wid) : null;
    },
    sendText: (o) => once(o.keyId, () => sendText(o)),
    // Messages from others in the page's store since `sinceT` (unix seconds), oldest first, at most
    // `limit`: what arrived while the gateway was not listening (a reload, a crash) is read back.
    recentIncoming: ({ since, limit }) => {
      const Msg = member(req('WAWebCollections'), 'WAWebCollections', 'Msg');
      const all = typeof Msg.getModelsArray === 'function' ? Msg.getModelsArray() : Msg.models || [];
      return all
        .filter((m) => m && m.id && !m.id.fromMe && (m.t || 0) >= since)
        .sort((a, b) => (a.t || 0) - (b.t || 0))
        .slice(-limit)
        .map(serializeMsg);
    },
    // The current ack of each of these messages (serialised ids) that the page has: [[id, ack], …].
    // After a restart or a reconnect, acks that came while nobody listened are read back here.
    acksOf: async ({ ids }) => {
      const Msg = member(req('WAWebCollections'), 'WAWebCollections', 'Msg');
      const out = [];
      const missing = [];
      for (const id of ids) {
        const m = typeof Msg.get === 'function' ? Msg.get(id) : null;
        if (m && typeof m.ack === 'number') out.push([id, m.ack]);
        else missing.push(id);
      }
      // Messages not loaded in memory are looked up in the page's store.
      if (missing.length && typeof Msg.getMessagesById === 'function') {
        const res = await Msg.getMessagesById(missing);
        for (const m of (res && res.messages) || []) {
          if (m && m.id && typeof m.ack === 'number') out.push([widStr(m.id), m.ack]);
        }
      }
      return out;
    },
    // A message this device sent, by the key id chosen before sending: `{id, t, ack}` or null.
    // How a send interrupted by a crash or a timeout is settled by evidence, not by guessing.
    findSent: async ({ chatId, keyId }) => {
      if (inflight.has(keyId)) throw new BridgeError('WA_SEND_IN_FLIGHT', 'this page is still sending ' + keyId);
      const Msg = member(req('WAWebCollections'), 'WAWebCollections', 'Msg');
      const ids = ['true_' + chatId + '_' + keyId];
      try {
        const chat = await findChat(chatId);
        const own = 'true_' + widStr(chat.id) + '_' + keyId;
        if (own !== ids[0]) ids.unshift(own);
      } catch (_) { /* the chat id as given is still worth a look */ }
      let found = null;
      for (const id of ids) found = found || (typeof Msg.get === 'function' ? Msg.get(id) : null);
      if (!found && typeof Msg.getMessagesById === 'function') {
        const res = await Msg.getMessagesById(ids);
        found = res && res.messages && res.messages[0];
      }
      if (!found) {
        const all = typeof Msg.getModelsArray === 'function' ? Msg.getModelsArray() : Msg.models || [];
        found = all.find((m) => m && m.id && m.id.fromMe && m.id.id === keyId) || null;
      }
      if (!found) return null;
      return { id: widStr(found.id), t: found.t || 0, ack: typeof found.ack === 'number' ? found.ack : 0 };
    },
    // "typing…" before a send (sending.typing): composing, or paused.
    chatState: async ({ chatId, state }) => {
      const wid = member(req('WAWebWidFactory'), 'WAWebWidFactory', 'createWid')(chatId);
      const bridge = req('WAWebChatStateBridge');
      const fn = state === 'composing' ? 'sendChatStateComposing' : 'sendChatStatePaused';
      await member(bridge, 'WAWebChatStateBridge', fn)(wid);
      return true;
    },
    downloadMedia: async ({ msgId }) => {
      const msg = req('WAWebCollections').Msg.get(msgId);
      if (!msg) throw new BridgeError('WA_MESSAGE_NOT_FOUND', 'no message ' + msgId + ' in this page');
      if (!msg.directPath) throw new BridgeError('WA_MEDIA_MISSING', 'the message has no media to download');
      const dm = member(req('WAWebDownloadManager'), 'WAWebDownloadManager', 'downloadManager');
      const buf = await member(dm, 'WAWebDownloadManager.downloadManager', 'downloadAndMaybeDecrypt')({
        directPath: msg.directPath,
        encFilehash: msg.encFilehash,
        filehash: msg.filehash,
        mediaKey: msg.mediaKey,
        mediaKeyTimestamp: msg.mediaKeyTimestamp,
        type: msg.type,
        signal: new AbortController().signal,
      });
      const bytes = new Uint8Array(buf);
      let s = '';
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      return { data: btoa(s), size: bytes.length, mimetype: msg.mimetype || null, filename: msg.filename || null };
    },
    putChunk: ({ uploadId, index, data }) => {
      if (index === 0) chunks.set(uploadId, []);
      const parts = chunks.get(uploadId);
      if (!parts || parts.length !== index) throw new BridgeError('WA_MEDIA_MISSING', 'chunk out of order');
      parts.push(data);
      return parts.length;
    },
    sendMedia: (o) => once(o.keyId, () => sendMedia(o)),
    logout: () => {
      const s = socket();
      return Promise.resolve(member(s, 'Socket', 'logout').call(s)).then(() => true);
    },
  };

  window.__wagate = {
    version: VERSION,
    drain(after) {
      const missing = ensureSubscribed();
      const events = queue.filter((e) => e.seq > after);
      // Everything up to `after` has been taken by the Rust side: forget it.
      while (queue.length && queue[0].seq <= after) queue.shift();
      return { seq, events, dropped, missing, snapshot: snapshot() };
    },
    // One call of the typed protocol (browser/protocol.rs): a method name and its named params.
    async call(method, params) {
      try {
        const fn = api[method];
        if (!fn) throw new BridgeError('BRIDGE_UNKNOWN_CALL', method);
        const value = await fn(params || {});
        return { ok: true, value: value === undefined ? null : value };
      } catch (e) {
        return { ok: false, code: (e && e.code) || 'WA_ERROR', message: String((e && e.message) || e) };
      }
    },
  };

  ensureSubscribed();
  try {
    const s = socket();
    push('state', s.state);
    if (s.state === 'UNPAIRED' || s.state === 'UNPAIRED_IDLE') emitQr();
    // The page may have synced before we were here: report it, not only its change (§5.2 ii).
    if (s.hasSynced) push('synced', me());
  } catch (e) {
    push('error', { code: e.code || 'WA_ERROR', message: String(e.message || e) });
  }
  return 'installed';
})();
