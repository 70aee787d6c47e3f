// wagate's bridge into WhatsApp Web. Injected with WebDriver `execute` after every page load.
//
// Rules (see wa-web-surface.md §7.3, §9, §10.3 and anchors-2026-11.md §3):
// - every capability is resolved by feature detection through an ordered list of candidates
//   (CAPS); a missing one is a named error at once (`WA_MODULE_MISSING:<module>`), never a hang;
// - modules that WhatsApp loads on demand are asked of the page's own `Bootloader` first;
// - the bridge installs only once the modules it needs at boot are registered and the module
//   graph stopped growing (a script injected earlier sees half-registered modules), or when the
//   gateway forces it after a bounded wait;
// - message ids are read through `keyStr`, by value: the field's name changes between builds;
// - nothing throws into the driver: every call answers {ok:true,value} or {ok:false,code,message};
// - page events go to a bounded queue with sequence numbers; pushing one rings the gateway (a
//   WebDriver BiDi channel, browser/bidi.rs) with the events new since the last ring; the queue
//   keeps them until a drain acknowledges them (without BiDi, the gateway polls with drains);
// - models are converted to plain JSON at once (WebDriver can only return JSON-cloneable values).
(function (opts) {
  'use strict';
  const VERSION = 11;
  if (window.__wagate && window.__wagate.version === VERSION) return { status: 'present' };

  // --- capabilities: ordered candidates, resolved by feature detection ---------------------------
  //
  // A candidate is a module and a member path (`a.b`), or `cls` for a module that is a class. `lazy`
  // lists the Bootloader components whose bundle carries the module (wa-js src/loader/lazyModules.ts),
  // tried in order. `optional` capabilities are reported but never needed at boot.
  const CAPS = {
    socket: [{ mod: 'WAWebSocketModel', path: 'Socket' }],
    conn: [{ mod: 'WAWebConnModel', path: 'Conn' }],
    cmd: [{ mod: 'WAWebCmd', path: 'Cmd' }],
    offlineProgress: [{ mod: 'WAWebOfflineHandler', path: 'OfflineMessageHandler.getOfflineDeliveryProgress' }],
    noiseKey: [{ mod: 'WAWebUserPrefsInfoStore', path: 'waNoiseInfo.get' }],
    identityKey: [{ mod: 'WAWebSignalStoreApi', path: 'waSignalStore.getRegistrationInfo' }],
    // Moved between modules before (wa-web-surface §9.1); the older home is the fallback.
    advSecret: [
      { mod: 'WAWebUserPrefsMultiDevice', path: 'getADVSecretKey' },
      { mod: 'WAWebAdvSignatureApi', path: 'getADVSecretKey' },
    ],
    devicePlatform: [{ mod: 'WAWebCompanionRegClientUtils', path: 'DEVICE_PLATFORM' }],
    refreshQr: [
      { mod: 'WAWebLaunchSocketUtils', path: 'refreshQR' },
      { mod: 'WAWebCmd', path: 'Cmd.refreshQR' },
    ],
    pairingCode: [{ mod: 'WAWebAltDeviceLinkingApi', path: 'startAltLinkingFlow' }],
    passkeyState: [
      { mod: 'WAWebShortcakeLinkingHandlePasskeyPrologueRequest', path: 'getPasskeyPrologueState', optional: true },
    ],
    meUser: [
      { mod: 'WAWebUserPrefsMeUser', path: 'getMaybeMePnUser' },
      { mod: 'WAWebUserPrefsMeUser', path: 'getMaybeMeUser' },
      { mod: 'WAWebUserPrefsMeUser', path: 'getMeUser' },
    ],
    meLid: [{ mod: 'WAWebUserPrefsMeUser', path: 'getMaybeMeLidUser', optional: true }],
    msgs: [{ mod: 'WAWebCollections', path: 'Msg' }],
    chats: [{ mod: 'WAWebCollections', path: 'Chat' }],
    contacts: [{ mod: 'WAWebCollections', path: 'Contact', optional: true }],
    createWid: [
      { mod: 'WAWebWidFactory', path: 'createWid' },
      { mod: 'WAWebWidFactory', path: 'createWidFromWidLike' },
    ],
    findChat: [{ mod: 'WAWebFindChatAction', path: 'findOrCreateLatestChat' }],
    msgKey: [{ mod: 'WAWebMsgKey', cls: true }],
    sendMsg: [{ mod: 'WAWebSendMsgChatAction', path: 'addAndSendMsgToChat' }],
    ephemeralFields: [{ mod: 'WAWebGetEphemeralFieldsMsgActionsUtils', path: 'getEphemeralFields', optional: true }],
    queryExists: [{ mod: 'WAWebQueryExistsJob', path: 'queryWidExists' }],
    chatStateComposing: [{ mod: 'WAWebChatStateBridge', path: 'sendChatStateComposing' }],
    chatStatePaused: [{ mod: 'WAWebChatStateBridge', path: 'sendChatStatePaused' }],
    chatStateRecording: [{ mod: 'WAWebChatStateBridge', path: 'sendChatStateRecording' }],
    // Read receipts (wa-web-surface §10: SendSeen).
    sendSeen: [{ mod: 'WAWebUpdateUnreadChatAction', path: 'sendSeen' }],
    // Online / offline for everyone: the presence action, else the stream's own switch.
    presenceAvailable: [
      { mod: 'WAWebPresenceChatAction', path: 'sendPresenceAvailable' },
      { mod: 'WAWebStreamModel', path: 'Stream.markAvailable' },
    ],
    presenceUnavailable: [
      { mod: 'WAWebPresenceChatAction', path: 'sendPresenceUnavailable' },
      { mod: 'WAWebStreamModel', path: 'Stream.markUnavailable' },
    ],
    mediaOpaque: [{ mod: 'WAWebMediaOpaqueData', cls: true }],
    prepMedia: [{ mod: 'WAWebPrepRawMedia', path: 'prepRawMedia' }],
    mediaObject: [{ mod: 'WAWebMediaStorage', path: 'getOrCreateMediaObject' }],
    mediaType: [{ mod: 'WAWebMmsMediaTypes', path: 'msgToMediaType' }],
    uploadMedia: [{ mod: 'WAWebMediaMmsV4Upload', path: 'uploadMedia' }],
    downloadMedia: [{ mod: 'WAWebDownloadManager', path: 'downloadManager.downloadAndMaybeDecrypt' }],
    // Replies: whether a message may be quoted (wa-web-surface §6.3); without it, any may.
    canReply: [{ mod: 'WAWebMsgReply', path: 'canReplyMsg', optional: true }],
    // Reactions (wa-web-surface §5.1 sendReactionToMsg, §7.2 message_reaction): sent through the
    // action, seen through the reaction table the page writes every reaction to.
    sendReaction: [{ mod: 'WAWebSendReactionMsgAction', path: 'sendReactionToMsg' }],
    reactionTable: [{ mod: 'WAWebAddonReactionTableMode', path: 'reactionTableMode' }],
    // Poll votes (wa-web-surface §7.2 vote_update): every vote, ours and others', is written to
    // the poll vote table; a poll itself goes out through addAndSendMsgToChat.
    pollVoteTable: [{ mod: 'WAWebAddonPollVoteTableMode', path: 'pollVoteTableMode' }],
    // Edit and delete for everyone (wa-web-surface §5.1 EditMessage, Cmd.sendRevokeMsgs).
    editMessage: [{ mod: 'WAWebSendMessageEditAction', path: 'sendMessageEdit' }],
    revokeMessages: [{ mod: 'WAWebCmd', path: 'Cmd.sendRevokeMsgs' }],
    // LID <-> phone (wa-web-surface §5.1 LidUtils): the page's own mapping, then its contacts.
    lidToPhone: [
      { mod: 'WAWebApiContact', path: 'getPhoneNumber' },
      { mod: 'WAWebLidMigrationUtils', path: 'toPn' },
      { mod: 'WAWebCollections', path: 'Contact', via: 'contactPhone' },
    ],
    phoneToLid: [
      { mod: 'WAWebApiContact', path: 'getCurrentLid' },
      { mod: 'WAWebLidMigrationUtils', path: 'toUserLid' },
    ],
    // Reading the account's world (wa-web-surface §5.1: ConversationMsgs, ProfilePic, StatusUtils).
    loadEarlierMsgs: [{ mod: 'WAWebChatLoadMessages', path: 'loadEarlierMsgs' }],
    profilePic: [{ mod: 'WAWebContactProfilePicThumbBridge', path: 'requestProfilePicFromServer' }],
    contactStatus: [{ mod: 'WAWebContactStatusBridge', path: 'getStatus' }],
    // Others' presence (wa-web-surface §5.1 PresenceUtils; wa-js PresenceStore and
    // subscribePresence): the page's presence models, and the subscription that makes WhatsApp's
    // server send a chat's presence. Builds since ~2.3000.1039447205 split the subscription into
    // a user's and a group's.
    presenceCollection: [{ mod: 'WAWebPresenceCollection', path: 'PresenceCollection', optional: true }],
    subscribePresence: [
      { mod: 'WAWebContactPresenceBridge', path: 'subscribePresence', optional: true },
      { mod: 'WAWebContactPresenceBridge', path: 'subscribeUserPresence', optional: true },
    ],
    subscribeGroupPresence: [{ mod: 'WAWebContactPresenceBridge', path: 'subscribeGroupPresence', optional: true }],
    // Whether the page lets a message be forwarded (wa-web-surface §5.1 MsgActionChecks; the
    // page's own forward menu asks it first); without it, revoked messages are refused.
    canForward: [{ mod: 'WAWebMsgActionCapability', path: 'canForwardMsg', optional: true }],
    // Forwarding, an on-demand bundle since 2026-09 (anchors-2026-11.md §3.2): loaded through the
    // Bootloader at first use. `forwardMessages({chat, msgs, multicast, includeCaption})` is what
    // the reference client calls; `forwardMessagesToChats(msgs, chats)` the older entry.
    forwardMessages: [
      { mod: 'WAWebChatForwardMessage', path: 'forwardMessages', optional: true,
        lazy: ['WAWebForwardMessageFlow.react', 'WAWebForwardMessageModal.react', 'WAWebMediaForwardMediaMsg'] },
      { mod: 'WAWebForwardMessagesToChat', path: 'forwardMessagesToChats', optional: true,
        lazy: ['WAWebForwardMessageFlow.react', 'WAWebForwardMessageModal.react', 'WAWebMediaForwardMediaMsg'] },
    ],
    createGroup: [{ mod: 'WAWebGroupCreateJob', path: 'createGroup', optional: true, lazy: ['WAWebNewGroupFlow.react'] }],
    groupInviteCode: [
      { mod: 'WAWebMexFetchGroupInviteCodeJob', path: 'fetchMexGroupInviteCode', optional: true,
        lazy: ['WAWebGroupInviteLinkDrawer.react', 'WAWebGroupInviteLinkModal.react'] },
    ],
    blockContact: [{ mod: 'WAWebBlockContactAction', path: 'blockContact', optional: true }],
    // Calls (wa-web-surface §7.2 `call`, §10.2): the module is the call collection itself; a
    // call is rejected with a raw stanza (§5.1 `Socket` / `SocketWap`), as the reference client does.
    calls: [{ mod: 'WAWebCallCollection', optional: true }],
    wap: [{ mod: 'WAWap', path: 'wap', optional: true }],
    wapId: [{ mod: 'WAWap', path: 'generateId', optional: true }],
    castStanza: [{ mod: 'WADeprecatedSendIq', path: 'deprecatedCastStanza', optional: true }],
    unblockContact: [{ mod: 'WAWebBlockContactAction', path: 'unblockContact', optional: true }],
    // Group management (wa-web-surface §5.1 `Group*` keys; anchors-2026-11 §3.2 for the lazy ones
    // and the 2026 description signature). Optional: a page without them still sends.
    groupQuery: [{ mod: 'WAWebGroupQueryJob', path: 'queryAndUpdateGroupMetadataById', optional: true }],
    addParticipants: [{ mod: 'WAWebModifyParticipantsGroupAction', path: 'addParticipants', optional: true }],
    removeParticipants: [{ mod: 'WAWebModifyParticipantsGroupAction', path: 'removeParticipants', optional: true }],
    promoteParticipants: [{ mod: 'WAWebModifyParticipantsGroupAction', path: 'promoteParticipants', optional: true }],
    demoteParticipants: [{ mod: 'WAWebModifyParticipantsGroupAction', path: 'demoteParticipants', optional: true }],
    groupSubject: [{ mod: 'WAWebGroupModifyInfoJob', path: 'setGroupSubject', optional: true }],
    groupDescription: [{ mod: 'WAWebGroupModifyInfoJob', path: 'setGroupDescription', optional: true }],
    groupProperty: [{ mod: 'WAWebSetPropertyGroupAction', path: 'setGroupProperty', optional: true }],
    exitGroup: [{ mod: 'WAWebExitGroupAction', path: 'sendExitGroup', optional: true }],
    // (wid, thumbnail 96×96, picture 640×640), both JPEG data URLs; → { status } (wa-js, whatsapp-web.js).
    setPicture: [{ mod: 'WAWebContactProfilePicThumbBridge', path: 'sendSetPicture', optional: true }],
    deletePicture: [{ mod: 'WAWebContactProfilePicThumbBridge', path: 'requestDeletePicture', optional: true }],
    revokeGroupInvite: [
      { mod: 'WAWebGroupInviteAction', path: 'resetGroupInviteCode', optional: true,
        lazy: ['WAWebGroupInviteLinkDrawer.react', 'WAWebGroupInviteLinkModal.react'] },
    ],
    joinGroupViaInvite: [
      { mod: 'WAWebGroupInviteJob', path: 'joinGroupViaInvite', optional: true,
        lazy: ['WAWebGroupInviteLinkDrawer.react', 'WAWebGroupInviteLinkModal.react'] },
    ],
  };
  // Registered before the bridge installs (the module graph has settled that far).
  const BOOT_CAPS = ['socket', 'conn', 'cmd', 'msgs', 'chats', 'meUser', 'createWid', 'msgKey', 'sendMsg'];

  class BridgeError extends Error {
    constructor(code, message) {
      super(message || code);
      this.code = code;
    }
  }

  // window.require, with a module that is absent or only pre-declared (null) as undefined.
  function tryRequire(name) {
    try {
      const m = window.require(name);
      return m == null ? undefined : m;
    } catch (_) {
      return undefined;
    }
  }

  function walk(obj, path) {
    let owner = null;
    let v = obj;
    for (const p of path.split('.')) {
      if (v == null) return { v: undefined };
      owner = v;
      v = v[p];
    }
    return { v, owner };
  }

  // How each capability was resolved in this document: { via, fallback, lazy }.
  const resolved = {};

  function fromCandidate(c, mod) {
    // No member: the module itself (a module that is an object, e.g. a collection).
    if (!c.cls && !c.path) return typeof mod === 'object' ? mod : undefined;
    if (c.cls) {
      const cls = typeof mod === 'function' ? mod : mod.default;
      return typeof cls === 'function' ? cls : undefined;
    }
    const { v, owner } = walk(mod, c.path);
    if (v == null) return undefined;
    return typeof v === 'function' && owner && typeof owner !== 'function' ? v.bind(owner) : v;
  }

  function record(name, i, c, lazy) {
    resolved[name] = { via: c.mod + (c.path ? '.' + c.path : ''), fallback: i, lazy: lazy || null };
  }

  function missingError(name, list, present) {
    const c = list[0];
    if (present) {
      return new BridgeError('WA_MEMBER_MISSING:' + present.mod + '.' + (present.path || 'class'),
        name + ': ' + list.map((x) => x.mod + (x.path ? '.' + x.path : '')).join(', ') + ' not found');
    }
    return new BridgeError('WA_MODULE_MISSING:' + c.mod,
      name + ': none of ' + list.map((x) => x.mod).join(', ') + ' is registered');
  }

  // A capability from what is registered now (lazy modules count once their bundle is loaded).
  function cap(name) {
    const list = CAPS[name];
    let present = null;
    for (let i = 0; i < list.length; i += 1) {
      const c = list[i];
      const mod = tryRequire(c.mod);
      if (mod === undefined) continue;
      const v = fromCandidate(c, mod);
      if (v !== undefined) {
        if (!resolved[name] || resolved[name].fallback !== i) record(name, i, c, resolved[name] && resolved[name].lazy);
        return v;
      }
      present = present || c;
    }
    delete resolved[name];
    throw missingError(name, list, present);
  }

  // Asks the page's Bootloader for the bundle of one of `components` (the first it knows), and
  // resolves once it has run. Bounded: a loader that never calls back is an error, not a hang.
  function loadBundle(components, ms) {
    const B = tryRequire('Bootloader');
    if (!B || typeof B.loadModules !== 'function') return Promise.reject(new Error('no Bootloader'));
    const map = B.__debug && B.__debug.componentMap;
    const known = map && typeof map.has === 'function' ? components.filter((c) => map.has(c)) : components;
    if (!known.length) return Promise.reject(new Error('the Bootloader knows none of ' + components.join(', ')));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the Bootloader did not load ' + known[0])), ms);
      try {
        B.loadModules([known[0]], () => {
          clearTimeout(timer);
          resolve(known[0]);
        }, 'wagate');
      } catch (e) {
        clearTimeout(timer);
        reject(e);
      }
    });
  }

  // `cap`, after asking the Bootloader for the lazy candidates' bundles in order.
  async function capLoad(name) {
    try {
      return cap(name);
    } catch (first) {
      const list = CAPS[name];
      for (let i = 0; i < list.length; i += 1) {
        const c = list[i];
        if (!c.lazy || tryRequire(c.mod) !== undefined) continue;
        let component;
        try {
          component = await loadBundle(c.lazy, 5000);
        } catch (_) {
          continue;
        }
        const mod = tryRequire(c.mod);
        const v = mod === undefined ? undefined : fromCandidate(c, mod);
        if (v !== undefined) {
          record(name, i, c, component);
          return v;
        }
      }
      throw first;
    }
  }

  // The module graph is ready for the bridge: the registry (`__debug.modulesMap`, when the page
  // has one) did not grow since the last look, and the bridge's boot capabilities are there — or
  // the registry has been quiet for QUIET_MS, so what is missing is missing for good.
  const QUIET_MS = 5000;
  function bootStatus() {
    const missing = [];
    for (const name of BOOT_CAPS) {
      try {
        cap(name);
      } catch (e) {
        missing.push(e.code);
      }
    }
    let modules = null;
    const dbg = tryRequire('__debug');
    if (dbg && dbg.modulesMap) modules = Object.keys(dbg.modulesMap).length;
    const now = Date.now();
    if (window.__wagateModuleCount !== modules || window.__wagateQuietSince === undefined) {
      window.__wagateModuleCount = modules;
      window.__wagateQuietSince = now;
      return { missing, modules, ready: false };
    }
    return { missing, modules, ready: !missing.length || now - window.__wagateQuietSince >= QUIET_MS };
  }

  if (!(opts && opts.force)) {
    const boot = bootStatus();
    if (!boot.ready) return { status: 'waiting', missing: boot.missing, modules: boot.modules };
  }

  const MAX_EVENTS = 5000;
  const queue = [];
  let seq = 0;
  let dropped = 0;
  const chunks = new Map();
  const subscribed = new Set();

  // This document's bridge, told apart from a later one's (their sequence numbers both start at 1).
  const DOC = Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
  // A ring carries the events queued since the previous ring, so the gateway need not come back
  // for them; a larger batch rings with its sequence number only (the gateway drains).
  const PUSH_MAX_CHARS = 256 * 1024;
  let rungThrough = 0;

  // Rings the gateway's doorbell (a WebDriver BiDi channel installed by a preload script, when
  // the driver speaks BiDi) with the new events. One ring per burst. The queue keeps every event
  // until a drain acknowledges it, so a ring that is lost loses nothing.
  let ringing = false;
  function ring() {
    if (ringing || typeof window.__wagateBell !== 'function') return;
    ringing = true;
    queueMicrotask(() => {
      ringing = false;
      const fresh = queue.slice(Math.max(0, queue.length - (seq - rungThrough)));
      rungThrough = seq;
      let text = null;
      try {
        text = JSON.stringify({ doc: DOC, events: fresh });
      } catch (_) { /* not serialisable here: the drain reads it */ }
      if (!text || text.length > PUSH_MAX_CHARS) text = String(seq);
      try { window.__wagateBell(text); } catch (_) { /* the safety poll still drains */ }
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

  // --- ids ---------------------------------------------------------------------------------------

  // `true_<chat>_<ID>` or `false_<chat>_<ID>`, plus `_<participant>` in groups.
  const KEY_SHAPE = /^(true|false)_[^_\s]+@[^_\s]+_[^_\s]+(_[^_\s]+@[^_\s]+)?$/;
  const WID_SHAPE = /^[^@\s]+@(c\.us|g\.us|lid|broadcast|newsletter|s\.whatsapp\.net)$/;

  // A field holding a string of `shape`, whatever its name: `_serialized` first, then the own
  // fields (enumerable or not), then `toString()`.
  function byShape(o, shape) {
    if (typeof o._serialized === 'string' && shape.test(o._serialized)) return o._serialized;
    for (const n of Object.getOwnPropertyNames(o)) {
      let v;
      try { v = o[n]; } catch (_) { continue; }
      if (typeof v === 'string' && shape.test(v)) return v;
    }
    try {
      const s = String(o);
      if (shape.test(s)) return s;
    } catch (_) { /* no usable toString */ }
    return null;
  }

  function widStr(w) {
    if (w == null) return null;
    if (typeof w === 'string') return w;
    const s = byShape(w, WID_SHAPE);
    if (s) return s;
    if (w.user !== undefined && w.server) return w.user + '@' + w.server;
    return null;
  }

  // The one way message ids are read: a WAWebMsgKey's serialised form was `_serialized` until
  // mid-2026 and is a minified name (`$1`) since (anchors-2026-11.md §3.2); found by its value.
  function keyStr(k) {
    if (k == null) return null;
    if (typeof k === 'string') return k;
    const s = byShape(k, KEY_SHAPE);
    if (s) return s;
    const remote = widStr(k.remote);
    if (remote && typeof k.id === 'string') {
      const parts = [String(!!k.fromMe), remote, k.id];
      const p = widStr(k.participant);
      if (p) parts.push(p);
      return parts.join('_');
    }
    return null;
  }

  const phoneOfWid = (s) => (s && /@c\.us$/.test(s) ? s.split('@')[0] : null);

  // LID <-> phone pairs seen in this document; each new one is reported once (`lid_pairs`).
  const pairs = new Map();
  function learn(lid, pn) {
    if (!lid || !pn || !/@lid$/.test(lid) || !/@c\.us$/.test(pn)) return;
    if (pairs.get(lid) === pn) return;
    pairs.set(lid, pn);
    push('lid_pairs', [{ lid, phone: pn.split('@')[0] }]);
  }

  function widOf(s) {
    try {
      return cap('createWid')(s);
    } catch (_) {
      return s;
    }
  }

  // The phone number (digits) behind a user id: the id itself for `@c.us`, WhatsApp's mapping
  // for a `@lid` (when the page knows it). Null for groups and unknown LIDs.
  function phoneOf(w) {
    const s = widStr(w);
    if (!s) return null;
    if (/@c\.us$/.test(s)) return phoneOfWid(s);
    if (!/@lid$/.test(s)) return null;
    if (pairs.has(s)) return phoneOfWid(pairs.get(s));
    let pn = null;
    try {
      const fn = cap('lidToPhone');
      if (resolved.lidToPhone && resolved.lidToPhone.via === 'WAWebCollections.Contact') {
        const c = typeof fn.get === 'function' ? fn.get(s) : null;
        pn = c ? widStr(c.phoneNumber) : null;
      } else {
        pn = widStr(fn(typeof w === 'string' ? widOf(w) : w));
      }
    } catch (_) {
      return null;
    }
    if (!pn || !/@c\.us$/.test(pn)) return null;
    learn(s, pn);
    return phoneOfWid(pn);
  }

  // The LID WhatsApp knows for a phone-number id, or null.
  function lidOf(w) {
    const s = widStr(w);
    if (!s || !/@c\.us$/.test(s)) return null;
    for (const [lid, pn] of pairs) if (pn === s) return lid;
    try {
      const lid = widStr(cap('phoneToLid')(typeof w === 'string' ? widOf(w) : w));
      if (lid && /@lid$/.test(lid)) {
        learn(lid, s);
        return lid;
      }
    } catch (_) { /* unknown */ }
    return null;
  }

  function socket() {
    return cap('socket');
  }

  function meWids() {
    let pn = null;
    let lid = null;
    try { pn = cap('meUser')(); } catch (_) { /* not linked yet */ }
    try { lid = cap('meLid')(); } catch (_) { /* before LIDs */ }
    return { pn, lid };
  }

  function me() {
    const { pn, lid } = meWids();
    let pushname = null;
    try {
      const conn = cap('conn');
      const info = typeof conn.serialize === 'function' ? conn.serialize() : conn;
      pushname = (info && info.pushname) || null;
    } catch (_) { /* optional */ }
    learn(widStr(lid), widStr(pn));
    return { wid: widStr(pn), lid: widStr(lid), pushname };
  }

  // `avParams` was a method of media models and is plain data in some builds (anchors §3.2,
  // 2026-07-08): read it either way.
  function avParamsOf(m) {
    try {
      const a = m.avParams;
      const v = typeof a === 'function' ? a.call(m) : a;
      return v && typeof v === 'object' ? v : null;
    } catch (_) {
      return null;
    }
  }

  function serializeMsg(m) {
    const id = m.id || {};
    const mediaish = !!(m.directPath || m.mediaKey || m.mimetype);
    const remote = widStr(id.remote) || widStr(id.fromMe ? m.to : m.from);
    const author = widStr(m.author) || widStr(id.participant);
    const sender = author || (id.fromMe ? null : widStr(m.from) || remote);
    const isGroup = /@g\.us$/.test(remote || '');
    const av = mediaish ? avParamsOf(m) : null;
    return {
      id: keyStr(id),
      fromMe: !!id.fromMe,
      remote,
      from: widStr(m.from),
      to: widStr(m.to),
      author,
      type: m.type || null,
      body: m.type === 'poll_creation' && typeof m.pollName === 'string'
        ? m.pollName
        : typeof m.body === 'string' && !mediaish ? m.body : null,
      caption: typeof m.caption === 'string' ? m.caption : null,
      t: m.t || null,
      ack: typeof m.ack === 'number' ? m.ack : null,
      hasMedia: mediaish,
      mimetype: m.mimetype || null,
      filename: m.filename || null,
      size: m.size || null,
      duration: av && typeof av.seconds === 'number' ? av.seconds : null,
      notifyName: m.notifyName || null,
      authorPhone: sender ? phoneOf(sender) : null,
      chatPhone: isGroup ? null : phoneOf(remote),
      isGroup,
      quotedMsgId: quotedIdOf(m, remote),
      mentions: Array.isArray(m.mentionedJidList) && m.mentionedJidList.length
        ? m.mentionedJidList.map(widStr).filter(Boolean) : null,
      lat: m.type === 'location' && typeof m.lat === 'number' ? m.lat : null,
      lng: m.type === 'location' && typeof m.lng === 'number' ? m.lng : null,
      loc: m.type === 'location' && typeof m.loc === 'string' ? m.loc : null,
      vcards: vcardsOf(m),
      poll: pollOf(m),
      // Forwarded (wa-web-surface §6.6): how many times, as WhatsApp counts (127: "many times").
      isForwarded: !!m.isForwarded,
      forwardingScore: typeof m.forwardingScore === 'number' ? m.forwardingScore : 0,
    };
  }

  // A poll creation message's question and options (`pollName`, `pollOptions` ordered by their
  // `localId`, `pollSelectableOptionsCount`).
  function pollOf(m) {
    if (m.type !== 'poll_creation' || typeof m.pollName !== 'string') return null;
    const opts = Array.isArray(m.pollOptions) ? m.pollOptions.slice() : [];
    opts.sort((a, b) => (a && b ? (a.localId || 0) - (b.localId || 0) : 0));
    return {
      name: m.pollName,
      options: opts.map((o) => (o && typeof o.name === 'string' ? o.name : '')),
      selectableCount: typeof m.pollSelectableOptionsCount === 'number' ? m.pollSelectableOptionsCount : 0,
    };
  }

  // A group notification (`gp2`): the action (`subtype`: add, invite, remove, leave, promote,
  // demote, subject, description, announce, restrict, picture, …), who did it (`author`), whom
  // it concerns (`recipients`) and the new subject / description or `on` / `off` (`body`).
  function serializeGroupNote(m) {
    const id = m.id || {};
    const chat = widStr(id.remote) || widStr(m.from);
    const author = widStr(m.author) || widStr(id.participant);
    const recipients = [].concat(m.recipients || []).map(widStr).filter(Boolean);
    return {
      id: keyStr(id),
      fromMe: !!id.fromMe,
      chat,
      subtype: typeof m.subtype === 'string' ? m.subtype : null,
      author,
      authorPhone: author ? phoneOf(author) : null,
      recipients,
      recipientPhones: recipients.map((r) => phoneOf(r)),
      body: typeof m.body === 'string' ? m.body : null,
      t: m.t || null,
    };
  }

  // A contact card message's vCards: the body of a `vcard`, each entry of a `multi_vcard`.
  function vcardsOf(m) {
    if (m.type === 'vcard' && typeof m.body === 'string') return [m.body];
    if (m.type === 'multi_vcard' && Array.isArray(m.vcardList)) {
      return m.vcardList.map((v) => v && v.vcard).filter((v) => typeof v === 'string');
    }
    return null;
  }

  // Whether a user id is the linked account's own (phone or LID form).
  function isMe(w) {
    const s = widStr(w);
    if (!s) return false;
    const { pn, lid } = meWids();
    return s === widStr(pn) || s === widStr(lid);
  }

  // The serialised id of the message `m` quotes: its context info names the quoted message's
  // stanza id and author (`quotedStanzaID`, `quotedParticipant`, wa-web-surface §6.6); the key is
  // rebuilt from them as WhatsApp builds keys (`<fromMe>_<chat>_<id>[_<participant> in groups]`).
  function quotedIdOf(m, remote) {
    const stanza = m.quotedStanzaID;
    if (typeof stanza !== 'string' || !stanza || !remote) return null;
    const chat = widStr(m.quotedRemoteJid) || remote;
    const participant = widStr(m.quotedParticipant);
    const mine = isMe(participant);
    const parts = [String(mine), chat, stanza];
    if (/@g\.us$/.test(chat) && participant) parts.push(participant);
    return parts.join('_');
  }

  // --- QR ------------------------------------------------------------------------------------------

  function b64(bytes) {
    try {
      const B = tryRequire('WABase64');
      const enc = B && (B.encodeB64 || B.encodeB64UrlSafe);
      if (typeof enc === 'function') return enc(bytes);
    } catch (_) { /* fall back to the browser's own */ }
    let s = '';
    for (const c of new Uint8Array(bytes)) s += String.fromCharCode(c);
    return btoa(s);
  }

  async function qrPayload() {
    const ref = cap('conn').ref;
    if (!ref) throw new BridgeError('WA_NO_QR', 'no QR reference yet');
    const noise = await cap('noiseKey')();
    const reg = await cap('identityKey')();
    const adv = await cap('advSecret')();
    const platform = cap('devicePlatform');
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
      return cap('offlineProgress')();
    } catch (_) {
      return null;
    }
  }

  // The passkey prologue of linking (WhatsApp's "Shortcake" linking, anchors §3.2): NONE,
  // PENDING, APPROVED or DENIED, and the reason WhatsApp gave.
  let passkeyReason = null;
  function passkeyNow() {
    try {
      const state = cap('passkeyState')();
      if (!state || state === 'NONE') return null;
      let reason = passkeyReason;
      try {
        const mod = tryRequire('WAWebShortcakeLinkingHandlePasskeyPrologueRequest');
        const req = mod && typeof mod.getPasskeyPrologueRequest === 'function' ? mod.getPasskeyPrologueRequest() : null;
        reason = (req && req.reason) || reason;
      } catch (_) { /* the reason is optional */ }
      return { state: String(state), reason };
    } catch (_) {
      return null;
    }
  }

  // --- subscriptions (retried each second for a minute after install, and on every drain) --------

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
      cap('conn').on('change:ref', () => emitQr());
    },
    cmd() {
      const c = cap('cmd');
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
      c.on('passkey_prologue_request', (req) => {
        passkeyReason = (req && req.reason) || null;
        push('passkey', { state: 'PENDING', reason: passkeyReason });
      });
      c.on('passkey_prologue_approved', () => push('passkey', { state: 'APPROVED', reason: passkeyReason }));
      c.on('passkey_prologue_denied', () => push('passkey', { state: 'DENIED', reason: passkeyReason }));
    },
    messages() {
      const Msg = cap('msgs');
      Msg.on('add', (m) => {
        if (!m || !m.isNewMsg) return;
        // A group notification (someone joined, left, changed the subject, …) is no message
        // (wa-web-surface §7.2: the library's group_join / group_leave / group_update).
        if (m.type === 'gp2') {
          push('group', serializeGroupNote(m));
          return;
        }
        const data = serializeMsg(m);
        push(data.fromMe ? 'msg_create' : 'msg_add', data);
      });
      Msg.on('change:ack', (m, ack) => {
        const id = m && keyStr(m.id);
        if (id) push('msg_ack', { id, ack: typeof ack === 'number' ? ack : m.ack });
      });
      Msg.on('change:type', (m) => {
        const id = m && keyStr(m.id);
        if (id) push('msg_type', { id, type: m.type });
      });
      // An edit changes the text in place (wa-web-surface §7.2 message_edit); a delete for
      // everyone empties it after turning the type to `revoked`, which is no edit.
      Msg.on('change:body change:caption', (m, now, prev) => {
        const id = m && keyStr(m.id);
        if (!id || m.type === 'revoked' || typeof now !== 'string' || now === prev) return;
        push('msg_edit', { id, body: now });
      });
    },
    // The page writes every reaction (ours and others', set or taken back) to its reaction
    // table; the library wraps the table's bulkUpsert the same way (wa-web-surface §7.2).
    reactions() {
      const table = cap('reactionTable');
      const upsert = table.bulkUpsert;
      if (typeof upsert !== 'function') throw new BridgeError('WA_MEMBER_MISSING:WAWebAddonReactionTableMode.reactionTableMode.bulkUpsert');
      if (upsert.__wagate) return;
      const wrapped = function (records) {
        try {
          for (const r of [].concat(records || [])) onReaction(r);
        } catch (_) { /* never in the page's way */ }
        return upsert.apply(this, arguments);
      };
      wrapped.__wagate = true;
      table.bulkUpsert = wrapped;
    },
    // Incoming calls (§7.2 `call`): the collection keeps its calls in a Map held by an own
    // property, whose `set` the library wraps; a collection without `.on` means calls are
    // disabled on this page (nothing to watch). A re-injected bridge takes over the wrapper.
    calls() {
      const coll = cap('calls');
      if (typeof coll.on !== 'function') return;
      const key = Object.keys(coll).find((k) => coll[k] instanceof Map);
      if (!key) throw new BridgeError('WA_MEMBER_MISSING:WAWebCallCollection.Map', 'the call collection holds no Map');
      const map = coll[key];
      if (map.set.__wagate) {
        map.set.__wagate.fn = onCall;
        return;
      }
      const original = map.set;
      const hook = { fn: onCall };
      const wrapped = function (k, v) {
        try { hook.fn(v); } catch (_) { /* never in the page's way */ }
        return original.apply(this, arguments);
      };
      wrapped.__wagate = hook;
      map.set = wrapped;
    },
    // Poll votes, likewise: the library wraps the vote table's bulkUpsert (§7.2 vote_update).
    pollVotes() {
      const table = cap('pollVoteTable');
      const upsert = table.bulkUpsert;
      if (typeof upsert !== 'function') throw new BridgeError('WA_MEMBER_MISSING:WAWebAddonPollVoteTableMode.pollVoteTableMode.bulkUpsert');
      if (upsert.__wagate) return;
      const wrapped = function (records) {
        try {
          for (const v of [].concat(records || [])) onPollVote(v);
        } catch (_) { /* never in the page's way */ }
        return upsert.apply(this, arguments);
      };
      wrapped.__wagate = true;
      table.bulkUpsert = wrapped;
    },
  };

  // A vote record (the library's PollVote reads these fields): `id`, `pollUpdateParentKey`,
  // `author` (groups) or `from`, `selectedOptionLocalIds`, `senderTimestampMs`. The options are
  // named from the poll when the page has it; the gateway maps the local ids otherwise.
  function onPollVote(v) {
    if (!v) return;
    const pollId = keyStr(v.pollUpdateParentKey || v.parentMsgKey);
    if (!pollId) return;
    const id = keyStr(v.id || v.msgKey);
    const voter = widStr(v.author) || widStr(v.from) || widStr(v.sender);
    const ids = Array.from(v.selectedOptionLocalIds || []).map(Number).filter((n) => Number.isInteger(n) && n >= 0);
    let names = [];
    try {
      const poll = cap('msgs').get(pollId);
      if (poll && Array.isArray(poll.pollOptions)) {
        names = ids.map((n) => poll.pollOptions.find((o) => o && o.localId === n)).filter(Boolean).map((o) => o.name);
      }
    } catch (_) { /* the gateway maps the ids */ }
    const ms = typeof v.senderTimestampMs === 'number' ? v.senderTimestampMs : null;
    push('poll_vote', {
      id: id || pollId + '_' + (voter || '') + '_' + (ms || ''),
      pollId,
      voter,
      voterPhone: voter ? phoneOf(voter) : null,
      selectedOptions: names,
      selectedIds: ids,
      fromMe: isMe(voter),
      t: ms !== null ? Math.floor(ms / 1000) : typeof v.t === 'number' ? v.t : null,
    });
  }

  // A call model as the library reads it (`id`, `peerJid`, `isVideo`, `isGroup`, `outgoing`,
  // `offerTime`); each incoming call is reported once per document.
  function serializeCall(c) {
    const from = widStr(c.peerJid);
    return {
      id: String(c.id),
      from,
      fromPhone: from ? phoneOf(from) : null,
      isVideo: !!c.isVideo,
      isGroup: !!c.isGroup,
      outgoing: !!c.outgoing,
      t: typeof c.offerTime === 'number' ? c.offerTime : Math.floor(Date.now() / 1000),
    };
  }
  const seenCalls = new Set();
  function onCall(c) {
    if (!c || c.id == null || c.outgoing || seenCalls.has(String(c.id))) return;
    seenCalls.add(String(c.id));
    push('call', serializeCall(c));
  }

  // Rejects a ringing incoming call: `<call id from to><reject call-id call-creator count="0"/>`
  // through WADeprecatedSendIq, as the reference client's rejectCall (its own id as `from`, the
  // caller as `to` and `call-creator`).
  // Calls this document rejected: the collection keeps a call until the server's end reaches
  // the page, and a second reject would be a second `call.rejected`.
  const rejectedCalls = new Set();
  async function rejectCall({ callId }) {
    const coll = cap('calls');
    const map = Object.keys(coll).map((k) => coll[k]).find((v) => v instanceof Map);
    const call = typeof coll.get === 'function' ? coll.get(callId) : map && map.get(callId);
    if (!call || call.outgoing) throw new BridgeError('CALL_NOT_FOUND', 'no incoming call ' + callId + ' is ringing on this page');
    if (rejectedCalls.has(String(call.id))) throw new BridgeError('CALL_NOT_FOUND', 'call ' + callId + ' was rejected already');
    const { pn, lid } = meWids();
    const own = widStr(pn) || widStr(lid);
    if (!own) throw new BridgeError('WA_NOT_READY', 'no own user yet: the session is not linked');
    const peer = widStr(call.peerJid);
    const wap = cap('wap');
    const stanza = wap('call', { id: cap('wapId')(), from: own, to: peer }, [
      wap('reject', { 'call-id': String(call.id), 'call-creator': peer, count: '0' }),
    ]);
    try {
      await cap('castStanza')(stanza);
    } catch (e) {
      // The server no longer has it ringing (over before the page heard): as good as unknown.
      if (/\(404\)/.test(String(e && e.message))) throw new BridgeError('CALL_NOT_FOUND', String(e.message));
      if (e instanceof BridgeError) throw e;
      throw new BridgeError('WA_ERROR', String((e && e.message) || e));
    }
    rejectedCalls.add(String(call.id));
    return serializeCall(call);
  }

  // Our own reaction keys as the page made them, by the message reacted to (sendReaction reads it).
  const ownReactions = new Map();
  function onReaction(r) {
    if (!r) return;
    const id = keyStr(r.msgKey);
    const msgId = keyStr(r.parentMsgKey);
    if (!id || !msgId) return;
    const chat = /^(true|false)_([^_]+)_/.exec(msgId);
    const remote = chat ? chat[2] : null;
    const isGroup = /@g\.us$/.test(remote || '');
    const sender = widStr(r.senderUserJid);
    const fromMe = /^true_/.test(id) || isMe(sender);
    if (fromMe) ownReactions.set(msgId, id);
    push('reaction', {
      id,
      msgId,
      emoji: typeof r.reactionText === 'string' ? r.reactionText : '',
      sender,
      senderPhone: sender ? phoneOf(sender) : null,
      chat: remote,
      chatPhone: isGroup || !remote ? null : phoneOf(remote),
      fromMe,
      // The table keeps milliseconds.
      t: typeof r.timestamp === 'number' ? Math.floor(r.timestamp / 1000) : null,
    });
  }

  // --- others' presence ---------------------------------------------------------------------------
  //
  // A presence model per subscribed chat (WAWebChangePresenceHandlerAction writes them): for a
  // user `isOnline` and `chatstate` {type: typing | recording_audio | available | unavailable,
  // t: last seen, unix seconds}; for a group, one chatstate per participant in `chatstates`.
  // The bridge watches the chats the gateway subscribed and reports each change as `presence`
  // {chat, chatPhone, participant, participantPhone, state, lastSeen, t}, with the state as the
  // API names it: composing, recording, paused (typing stopped), available, unavailable.

  const watchedPresence = new Map(); // chat id -> presence model
  const lastPresence = new Map(); // chat|participant -> last reported state and last seen

  // Typing or recording that ends while online is `paused`; going offline is `unavailable`.
  function presenceState(type, prev) {
    if (type === 'typing') return 'composing';
    if (type === 'recording_audio') return 'recording';
    if (type === 'available') return prev === 'composing' || prev === 'recording' ? 'paused' : 'available';
    if (type === 'unavailable') return 'unavailable';
    return null;
  }

  function lastSeenOf(cs) {
    return cs && cs.type === 'unavailable' && typeof cs.t === 'number' && cs.t > 0 ? cs.t : null;
  }

  function reportPresence(chatId, presence, cs, participant) {
    const key = chatId + '|' + (participant || '');
    const prev = lastPresence.get(key);
    let type = cs && cs.type;
    // A user's online flag without a chat state yet (a subscription's first answer).
    if (!type && !participant && presence && presence.hasData) type = presence.isOnline ? 'available' : 'unavailable';
    const state = presenceState(type, prev && prev.state);
    if (!state) return;
    const lastSeen = lastSeenOf(cs);
    // Paused is online: a later look at the same online state is no change.
    const same = prev && (prev.state === state || (prev.state === 'paused' && state === 'available'));
    if (same && prev.lastSeen === lastSeen) return;
    lastPresence.set(key, { state, lastSeen });
    const group = /@g\.us$/.test(chatId);
    push('presence', {
      chat: chatId,
      chatPhone: group ? null : phoneOf(chatId),
      participant: participant || null,
      participantPhone: participant ? phoneOf(participant) : null,
      state,
      lastSeen,
      t: Math.floor(Date.now() / 1000),
    });
  }

  function watchPresence(chatId, presence) {
    if (watchedPresence.get(chatId) === presence) return;
    watchedPresence.set(chatId, presence);
    if (isGroupWid(presence.id)) {
      const states = presence.chatstates;
      if (!states || typeof states.on !== 'function') return;
      const one = (cs) => cs && reportPresence(chatId, presence, cs, widStr(cs.id));
      states.on('add', one);
      states.on('change:type change:t', one);
      return;
    }
    const cs = presence.chatstate;
    if (cs && typeof cs.on === 'function') cs.on('change:type change:t', () => reportPresence(chatId, presence, presence.chatstate));
    presence.on('change:isOnline', () => reportPresence(chatId, presence, presence.chatstate));
  }

  // What the page knows of a chat's presence now: `{chatId, chatPhone, subscribed, state,
  // lastSeen, participants: [{id, phone, state}]}`; `state` null before WhatsApp told anything.
  function presenceNow(chatId, presence) {
    const group = /@g\.us$/.test(chatId);
    const out = {
      chatId,
      chatPhone: group ? null : phoneOf(chatId),
      subscribed: !!(presence && (presence.isSubscribed || watchedPresence.get(chatId) === presence)),
      state: null,
      lastSeen: null,
      participants: [],
    };
    if (!presence || !presence.hasData) return out;
    if (group) {
      out.participants = (presence.chatstates ? modelsOf(presence.chatstates) : [])
        .map((cs) => ({ id: widStr(cs.id), phone: phoneOf(widStr(cs.id)), state: presenceState(cs.type, null) }))
        .filter((p) => p.id && p.state);
      return out;
    }
    const cs = presence.chatstate;
    out.state = presenceState(cs && cs.type, null) || (presence.isOnline ? 'available' : 'unavailable');
    out.lastSeen = lastSeenOf(cs);
    return out;
  }

  // Subscribes to a chat's presence (WhatsApp's server then sends it) and watches its model.
  async function subscribePresence({ chatId }) {
    const chat = await findChat(chatId);
    const wid = chat.id;
    const id = widStr(wid);
    let groupSub = null;
    try { groupSub = cap('subscribeGroupPresence'); } catch (_) { /* older builds: one function */ }
    if (isGroupWid(wid) && groupSub) await groupSub(wid);
    else await cap('subscribePresence')(wid);
    const Presence = cap('presenceCollection');
    const presence = (typeof Presence.get === 'function' && Presence.get(wid)) || (await Presence.find(wid));
    if (!presence) throw new BridgeError('WA_ERROR', 'WhatsApp Web has no presence model for ' + id);
    // A group's subscription answers nothing (it only sends the request): give the server a
    // moment to take it, so that a change right after this call is not missed.
    for (let waited = 0; !presence.isSubscribed && waited < 2000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    watchPresence(id, presence);
    return presenceNow(id, presence);
  }

  async function presenceOf({ chatId }) {
    const chat = await findChat(chatId);
    const id = widStr(chat.id);
    const Presence = cap('presenceCollection');
    const presence = typeof Presence.get === 'function' ? Presence.get(chat.id) : null;
    return presenceNow(id, presence || null);
  }

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
    return { state, hasSynced, me: hasSynced ? me() : null, loading: loadingPercent(), passkey: passkeyNow() };
  }

  // --- sending -----------------------------------------------------------------------------------

  // The chat for an id in either form: a phone number's chat may live under its LID (2026) and a
  // LID's under its phone number (older chats); WhatsApp's own lookup decides otherwise.
  async function findChat(chatId) {
    const wid = cap('createWid')(chatId);
    const Chat = cap('chats');
    const get = (id) => (id && typeof Chat.get === 'function' ? Chat.get(id) : null);
    let chat = null;
    if (/@c\.us$/.test(chatId)) chat = get(lidOf(chatId)) || get(chatId);
    else if (/@lid$/.test(chatId)) {
      const p = phoneOf(chatId);
      chat = get(chatId) || (p ? get(p + '@c.us') : null);
    } else chat = get(chatId);
    if (!chat) {
      const res = await cap('findChat')(wid);
      chat = res && (res.chat || res);
    }
    if (!chat || !chat.id) throw new BridgeError('WA_CHAT_NOT_FOUND', 'no chat for ' + chatId);
    return chat;
  }

  const isLidWid = (w) => (w && typeof w.isLid === 'function' ? w.isLid() : /@lid$/.test(widStr(w) || ''));
  const isGroupWid = (w) => (w && typeof w.isGroup === 'function' ? w.isGroup() : /@g\.us$/.test(widStr(w) || ''));

  // `keyId`: the id the gateway chose and stored before sending, so that after a crash the
  // message can be found again (and a resend carries the same id).
  async function baseProps(chat, keyId) {
    const { pn, lid } = meWids();
    if (!pn && !lid) throw new BridgeError('WA_NOT_READY', 'no own user yet: the session is not linked');
    let from = isLidWid(chat.id) ? lid || pn : pn || lid;
    let participant;
    if (isGroupWid(chat.id)) {
      const lidMode = chat.groupMetadata && chat.groupMetadata.isLidAddressingMode;
      from = lidMode ? lid || pn : pn || lid;
      const wf = tryRequire('WAWebWidFactory');
      participant = wf && typeof wf.asUserWidOrThrow === 'function' ? wf.asUserWidOrThrow(from) : from;
    }
    const Key = cap('msgKey');
    if (!keyId && typeof Key.newId !== 'function') throw new BridgeError('WA_MEMBER_MISSING:WAWebMsgKey.newId');
    const id = keyId || (await Key.newId());
    const key = new Key({ from, to: chat.id, id, participant, selfDir: 'out' });
    let ephemeral = {};
    try {
      ephemeral = cap('ephemeralFields')(chat) || {};
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

  // Rejects with `code` when `promise` has not settled within `ms`.
  function deadline(promise, ms, code, message) {
    let timer;
    return Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new BridgeError(code, message)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async function addAndSend(chat, key, props) {
    const result = cap('sendMsg')(chat, props);
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
    const id = keyStr(key);
    if (!id) throw new BridgeError('WA_MEMBER_MISSING:WAWebMsgKey.serialized', 'the message key has no serialised id');
    let msg = null;
    try {
      msg = cap('msgs').get(id);
    } catch (_) { /* the id is enough */ }
    if (msg && msg.ack === -1) throw new BridgeError('WA_SEND_FAILED', 'WhatsApp refused the message');
    const chatId = widStr(chat.id);
    return {
      id,
      t: props.t,
      ack: msg && typeof msg.ack === 'number' ? msg.ack : 0,
      chat: chatId,
      chatPhone: isGroupWid(chat.id) ? null : phoneOf(chatId),
    };
  }

  // A read receipt for `chat`, sent while the stream shows us available (as WhatsApp Web does;
  // wa-web-surface §10). Throws a named error when the page cannot send one.
  async function markSeen(chat) {
    const seen = cap('sendSeen');
    const stream = tryRequire('WAWebStreamModel');
    const Stream = stream && stream.Stream;
    if (Stream && typeof Stream.markAvailable === 'function') Stream.markAvailable();
    try {
      await seen({ chat, threadId: undefined });
    } finally {
      if (Stream && typeof Stream.markUnavailable === 'function') Stream.markUnavailable();
    }
  }

  // `markRead` on a send is best effort: the message goes out even if no receipt could.
  function markSeenQuietly(chat) {
    return markSeen(chat).catch(() => {});
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

  // The props that make a message a reply to `quotedId` (wa-web-surface §6.3): the quoted
  // message must be in this page and be one WhatsApp lets us reply to; its context info
  // (`msgContextInfo`) goes into the new message.
  async function quoteProps(chat, quotedId) {
    if (!quotedId) return {};
    const quoted = await findMsg(quotedId);
    if (!quoted) throw new BridgeError('WA_MESSAGE_NOT_FOUND', 'no message ' + quotedId + ' in this page to reply to');
    let canReply = null;
    try { canReply = cap('canReply'); } catch (_) { /* optional */ }
    const target = typeof quoted.unsafe === 'function' ? quoted.unsafe() : quoted;
    if (canReply && !canReply(target)) throw new BridgeError('WA_SEND_FAILED', 'WhatsApp does not allow a reply to ' + quotedId);
    if (typeof quoted.msgContextInfo !== 'function') throw new BridgeError('WA_MEMBER_MISSING:Msg.msgContextInfo');
    return quoted.msgContextInfo(chat) || {};
  }

  // Mentions as the library sends them (wa-web-surface §6.3): each id a Wid in `mentionedJidList`.
  function mentionProps(o) {
    return o.mentions && o.mentions.length ? { mentionedJidList: o.mentions.map(widOf) } : {};
  }

  async function sendText(o) {
    const chat = await findChat(await recipient(o.chatId, o.checkRecipient));
    const quote = await quoteProps(chat, o.quoted);
    if (o.markRead) await markSeenQuietly(chat);
    const { key, props } = await baseProps(chat, o.keyId);
    return addAndSend(chat, key, { ...props, ...quote, ...mentionProps(o), body: o.body, type: 'chat' });
  }

  // A location message: `lat`, `lng` (degrees) and `loc` (name and address on two lines), as the
  // library sends one (wa-web-surface §6.3 "…location…").
  async function sendLocation(o) {
    const chat = await findChat(await recipient(o.chatId, o.checkRecipient));
    const quote = await quoteProps(chat, o.quoted);
    if (o.markRead) await markSeenQuietly(chat);
    const { key, props } = await baseProps(chat, o.keyId);
    const loc = o.description || undefined;
    return addAndSend(chat, key, { ...props, ...quote, body: '', type: 'location', lat: o.latitude, lng: o.longitude, loc });
  }

  // Contact cards, as the library sends them (wa-web-surface §6.3 "…vcard…"): one card is a
  // `vcard` message with the card as its body, several a `multi_vcard` with `vcardList`.
  async function sendContacts(o) {
    const chat = await findChat(await recipient(o.chatId, o.checkRecipient));
    const quote = await quoteProps(chat, o.quoted);
    if (o.markRead) await markSeenQuietly(chat);
    const { key, props } = await baseProps(chat, o.keyId);
    const cards = o.cards || [];
    const content = cards.length === 1
      ? { type: 'vcard', body: cards[0].vcard, vcardFormattedName: cards[0].displayName }
      : { type: 'multi_vcard', body: '', vcardList: cards.map((c) => ({ displayName: c.displayName, vcard: c.vcard })) };
    return addAndSend(chat, key, { ...props, ...quote, ...content });
  }

  // A poll, as the library sends one (wa-web-surface §6.3 "…poll…"): `poll_creation` with the
  // question as `pollName`, the options with their `localId` (their index), 0 selectable options
  // for "any number" or 1, and a fresh 32-byte `messageSecret` (the votes are encrypted with it).
  async function sendPoll(o) {
    const chat = await findChat(await recipient(o.chatId, o.checkRecipient));
    const quote = await quoteProps(chat, o.quoted);
    if (o.markRead) await markSeenQuietly(chat);
    const { key, props } = await baseProps(chat, o.keyId);
    return addAndSend(chat, key, {
      ...props,
      ...quote,
      type: 'poll_creation',
      body: '',
      pollName: o.question,
      pollOptions: (o.options || []).map((name, localId) => ({ name, localId })),
      pollSelectableOptionsCount: o.multiple ? 0 : 1,
      messageSecret: window.crypto.getRandomValues(new Uint8Array(32)),
    });
  }

  // A reaction on a message of this page (an empty emoji takes ours back). The page keys the
  // reaction itself; its key is read off the reaction table as the page writes it there.
  async function sendReaction(o) {
    const send = cap('sendReaction');
    const target = await findMsg(o.msgId);
    if (!target) throw new BridgeError('WA_MESSAGE_NOT_FOUND', 'no message ' + o.msgId + ' in this page to react to');
    const msgId = keyStr(target.id);
    ownReactions.delete(msgId);
    const result = await send(typeof target.unsafe === 'function' ? target.unsafe() : target, o.emoji);
    const verdict = result && result.messageSendResult;
    if (verdict && verdict !== 'OK') throw new BridgeError('WA_SEND_FAILED', 'WhatsApp refused the reaction: ' + verdict);
    const chatId = widStr(target.id.remote);
    return {
      // The page's own key when the table showed it; else the message reacted to names it.
      id: ownReactions.get(msgId) || 'true_' + chatId + '_' + (o.keyId || target.id.id),
      t: Math.floor(Date.now() / 1000),
      ack: 1,
      chat: chatId,
      chatPhone: isGroupWid(target.id.remote) ? null : phoneOf(chatId),
    };
  }

  // What forwarding gave its copy, by the key id the gateway chose for the send: the page keys
  // the copy itself, so `findSent` settles an interrupted forward from here (while this
  // document lives).
  const forwardedByKey = new Map();

  // The page's answer when it may not forward `msg`: revoked (nothing left to forward), or
  // refused by its own check.
  function forwardRefusal(msg) {
    if (msg.type === 'revoked') return 'the message was deleted for everyone';
    let can = null;
    try { can = cap('canForward'); } catch (_) { /* optional: the type check above stands */ }
    if (can && !can(typeof msg.unsafe === 'function' ? msg.unsafe() : msg)) return 'WhatsApp does not let this message be forwarded';
    return null;
  }

  // Forwards a message of this page to a chat with WhatsApp's own forward, which copies it,
  // marks it forwarded (`isForwarded`, `forwardingScore`, as the page decides) and keys the copy
  // itself: the copy is the chat's one new message of ours once the forward resolved.
  async function forwardMessage(o) {
    const msg = await findMsg(o.msgId);
    if (!msg) throw new BridgeError('WA_MESSAGE_NOT_FOUND', 'no message ' + o.msgId + ' in this page to forward');
    const refusal = forwardRefusal(msg);
    if (refusal) throw new BridgeError('MESSAGE_NOT_FORWARDABLE', refusal);
    const chat = await findChat(await recipient(o.chatId, o.checkRecipient));
    const forward = await capLoad('forwardMessages');
    const target = typeof msg.unsafe === 'function' ? msg.unsafe() : msg;
    const before = new Set(modelsOf(chat.msgs).map((m) => keyStr(m.id)));
    const failed = resolved.forwardMessages.via === 'WAWebChatForwardMessage.forwardMessages'
      ? await forward({ chat, msgs: [target], multicast: false, includeCaption: true })
      : await forward([target], [chat]);
    // The page answers with the media messages it could not forward (others fail quietly: no copy).
    if (Array.isArray(failed) && failed.length) throw new BridgeError('WA_SEND_FAILED', 'WhatsApp could not forward the message');
    const copy = modelsOf(chat.msgs)
      .filter((m) => m && m.id && m.id.fromMe && !before.has(keyStr(m.id)))
      .sort((a, b) => (b.t || 0) - (a.t || 0))[0];
    if (!copy) throw new BridgeError('WA_SEND_FAILED', 'WhatsApp did not forward the message');
    if (copy.ack === -1) throw new BridgeError('WA_SEND_FAILED', 'WhatsApp refused the forwarded message');
    const id = keyStr(copy.id);
    if (o.keyId) forwardedByKey.set(o.keyId, id);
    const chatId = widStr(chat.id);
    return {
      id,
      t: copy.t || Math.floor(Date.now() / 1000),
      ack: typeof copy.ack === 'number' ? copy.ack : 0,
      chat: chatId,
      chatPhone: isGroupWid(chat.id) ? null : phoneOf(chatId),
      isForwarded: !!copy.isForwarded,
      forwardingScore: typeof copy.forwardingScore === 'number' ? copy.forwardingScore : 0,
    };
  }

  // Our own message of this page by id, for an edit or a delete.
  async function ownMsg(msgId) {
    const msg = await findMsg(msgId);
    if (!msg) throw new BridgeError('WA_MESSAGE_NOT_FOUND', 'no message ' + msgId + ' in this page');
    if (!msg.id || !msg.id.fromMe) throw new BridgeError('WA_SEND_FAILED', msgId + ' is not our message');
    return msg;
  }

  // What an edit or a delete answers: the page keys the protocol message itself, so the gateway's
  // key id names it.
  function actionAnswer(msg, keyId) {
    const chatId = widStr(msg.id.remote);
    return {
      id: 'true_' + chatId + '_' + (keyId || msg.id.id),
      t: Math.floor(Date.now() / 1000),
      ack: 1,
      chat: chatId,
      chatPhone: isGroupWid(msg.id.remote) ? null : phoneOf(chatId),
    };
  }

  async function editMessage(o) {
    const edit = cap('editMessage');
    const msg = await ownMsg(o.msgId);
    if (msg.body !== o.body) await edit(typeof msg.unsafe === 'function' ? msg.unsafe() : msg, o.body, {});
    return actionAnswer(msg, o.keyId);
  }

  // Deletes for everyone (the library's Message.delete(true)); a message deleted already is done.
  async function revokeMessage(o) {
    const revoke = cap('revokeMessages');
    const msg = await ownMsg(o.msgId);
    if (msg.type !== 'revoked') {
      const chat = await findChat(widStr(msg.id.remote));
      await revoke(chat, { list: [msg], type: 'message' }, { clearMedia: true });
    }
    return actionAnswer(msg, o.keyId);
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

  // A media model's own data as message props: its private `__x_*` slots dropped (a `__x_id`
  // overrides the new message key: "must include an id property", anchors §3.2, 2026-09-17),
  // and `avParams` kept only as data (a method is the model's, not the message's).
  function mediaProps(mediaData) {
    const out = { ...mediaData, ...(typeof mediaData.toJSON === 'function' ? mediaData.toJSON() : {}) };
    for (const k of Object.keys(out)) {
      if (k.startsWith('__x_') || typeof out[k] === 'function') delete out[k];
    }
    const av = avParamsOf(mediaData);
    if (av) out.avParams = av;
    return out;
  }

  async function sendMedia(o) {
    const bytes = takeBytes(o);
    const chat = await findChat(await recipient(o.chatId, o.checkRecipient));
    const quote = await quoteProps(chat, o.quoted);
    if (o.markRead) await markSeenQuietly(chat);
    const file = new File([bytes], o.filename || 'file', { type: o.mimetype });
    const OpaqueCls = cap('mediaOpaque');
    if (typeof OpaqueCls.createFromData !== 'function') throw new BridgeError('WA_MEMBER_MISSING:WAWebMediaOpaqueData.createFromData');
    const opaque = await OpaqueCls.createFromData(file, o.mimetype);
    const mediaData = await cap('prepMedia')(opaque, {
      asSticker: !!o.asSticker,
      asGif: false,
      isPtt: !!o.asVoice,
      asDocument: !!o.asDocument,
    }).waitForPrep();
    if (!mediaData || !mediaData.filehash) throw new BridgeError('WA_MEDIA_FAILED', 'media-fault: filehash undefined');
    const mediaObject = cap('mediaObject')(mediaData.filehash);
    const types = tryRequire('WAWebMmsMediaTypes');
    const mediaType = cap('mediaType')({ type: mediaData.type, isGif: mediaData.isGif });
    let blob = mediaData.mediaBlob;
    if (!(blob instanceof OpaqueCls)) blob = await OpaqueCls.createFromData(blob || file, o.mimetype);
    mediaData.renderableUrl = typeof blob.url === 'function' ? blob.url() : undefined;
    if (typeof mediaObject.consolidate === 'function') mediaObject.consolidate(mediaData.toJSON());
    if (typeof blob.autorelease === 'function') blob.autorelease();
    try {
      const du = tryRequire('WAWebMediaDataUtils');
      const v4 = types && typeof types.castToV4 === 'function' ? types.castToV4(mediaData.type) : mediaData.type;
      if (du && du.shouldUseMediaCache && du.shouldUseMediaCache(v4)) {
        tryRequire('WAWebMediaInMemoryBlobCache').InMemoryMediaBlobCache.put(mediaObject.filehash, blob.formData());
      }
    } catch (_) { /* the cache is an optimisation */ }
    const uploaded = await cap('uploadMedia')({ mimetype: o.mimetype, mediaObject, mediaType });
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
    const all = { ...props, ...mediaProps(mediaData), ...quote, ...mentionProps(o), id: key, body: mediaData.preview, caption };
    if (caption) all.isCaptionByUser = true;
    if (o.asDocument && o.filename) all.filename = o.filename;
    return addAndSend(chat, key, all);
  }

  // A message of this page by its serialised id. In a LID chat the message is stored under its
  // LID key: an id in the phone form is tried in the LID form too (anchors §3.2, 2026-07-15).
  async function findMsg(msgId) {
    const Msg = cap('msgs');
    const ids = [msgId];
    const m = /^(true|false)_([^_]+)_(.+)$/.exec(msgId);
    if (m) {
      const alt = /@c\.us$/.test(m[2]) ? lidOf(m[2]) : /@lid$/.test(m[2]) && phoneOf(m[2]) ? phoneOf(m[2]) + '@c.us' : null;
      if (alt) ids.push(m[1] + '_' + alt + '_' + m[3]);
    }
    for (const id of ids) {
      const found = typeof Msg.get === 'function' ? Msg.get(id) : null;
      if (found) return found;
    }
    if (typeof Msg.getMessagesById === 'function') {
      const res = await Msg.getMessagesById(ids);
      if (res && res.messages && res.messages[0]) return res.messages[0];
    }
    return null;
  }

  // --- reading chats and contacts ----------------------------------------------------------------

  const modelsOf = (coll) => (typeof coll.getModelsArray === 'function' ? coll.getModelsArray() : coll.models || []);

  function serializeChat(c) {
    const id = widStr(c.id);
    const msgs = c.msgs ? modelsOf(c.msgs) : [];
    const last = msgs[msgs.length - 1];
    const group = isGroupWid(c.id);
    return {
      id,
      name: c.name || c.formattedTitle || null,
      isGroup: group,
      phone: group ? null : phoneOf(id),
      unreadCount: typeof c.unreadCount === 'number' ? Math.max(0, c.unreadCount) : 0,
      archived: !!c.archive,
      t: c.t || (last && last.t) || null,
      lastMessage: last ? serializeMsg(last) : null,
    };
  }

  // A chat's messages before `before` (a serialised id; the newest when absent), at most `limit`,
  // oldest first, loading earlier ones from the phone (WAWebChatLoadMessages) until there are
  // enough. `beforeT` (unix seconds) places a `before` the page does not have.
  async function chatMessages({ chatId, before, beforeT, limit }) {
    const chat = await findChat(chatId);
    const state = (chat.msgs && chat.msgs.msgLoadState) || {};
    const sameKey = (m) => {
      const k = keyStr(m.id);
      return k === before || (m.id && typeof m.id.id === 'string' && before && before.endsWith('_' + m.id.id));
    };
    let all = [];
    let end = 0;
    for (let round = 0; round < 50; round += 1) {
      all = modelsOf(chat.msgs).filter((m) => m && m.id);
      end = all.length;
      let found = !before;
      if (before) {
        const i = all.findIndex(sameKey);
        if (i >= 0) {
          end = i;
          found = true;
        }
      }
      if ((found && end >= limit) || state.noEarlierMsgs) break;
      const loaded = await cap('loadEarlierMsgs')(chat, chat.msgs);
      if (!loaded || !loaded.length) break;
    }
    if (before && !all.some(sameKey)) {
      if (typeof beforeT !== 'number') throw new BridgeError('WA_MESSAGE_NOT_FOUND', 'no message ' + before + ' in this chat');
      end = all.filter((m) => (m.t || 0) < beforeT).length;
    }
    const start = Math.max(0, end - limit);
    return {
      chat: serializeChat(chat),
      messages: all.slice(start, end).map(serializeMsg),
      more: start > 0 || !state.noEarlierMsgs,
    };
  }

  function serializeContact(c) {
    const id = widStr(c.id);
    const lid = /@lid$/.test(id || '') ? id : lidOf(id);
    const phone = phoneOf(id) || (c.phoneNumber ? phoneOfWid(widStr(c.phoneNumber)) : null);
    return {
      id,
      name: c.name || null,
      pushname: c.pushname || null,
      shortName: c.shortName || null,
      isBusiness: !!c.isBusiness,
      isMyContact: !!c.isMyContact,
      isBlocked: !!c.isBlocked,
      phone,
      lid: lid || null,
    };
  }

  // A user's contact with what the server tells about them: the profile picture URL and the
  // about text (null when hidden or absent).
  async function contactInfo({ contactId }) {
    const Contact = cap('contacts');
    const wid = cap('createWid')(contactId);
    let c = typeof Contact.get === 'function' ? Contact.get(contactId) : null;
    if (!c && /@c\.us$/.test(contactId) && lidOf(contactId)) c = Contact.get(lidOf(contactId));
    if (!c && typeof Contact.find === 'function') c = await Contact.find(wid);
    if (!c) throw new BridgeError('WA_CONTACT_NOT_FOUND', 'no contact ' + contactId);
    const out = serializeContact(c);
    out.profilePictureUrl = null;
    out.about = null;
    try {
      const pic = await cap('profilePic')(c.id || wid);
      out.profilePictureUrl = (pic && (pic.eurl || pic.imgFull || pic.img)) || null;
    } catch (_) { /* hidden by privacy settings, or none */ }
    try {
      const st = await cap('contactStatus')(c.id || wid);
      out.about = (st && typeof st.status === 'string' && st.status) || null;
    } catch (_) { /* hidden */ }
    return out;
  }

  // --- groups --------------------------------------------------------------------------------------

  function serializeGroup(chat) {
    const md = chat.groupMetadata || {};
    const parts = md.participants ? modelsOf(md.participants) : [];
    const { pn, lid } = meWids();
    const mine = [widStr(pn), widStr(lid)].filter(Boolean);
    return {
      id: widStr(chat.id),
      subject: md.subject || chat.name || chat.formattedTitle || null,
      description: md.desc || null,
      owner: widStr(md.owner),
      announce: !!md.announce,
      restrict: !!md.restrict,
      participants: parts.map((p) => {
        const id = widStr(p.id);
        return { id, phone: phoneOf(id), isAdmin: !!(p.isAdmin || p.isSuperAdmin), isSuperAdmin: !!p.isSuperAdmin };
      }),
      isMember: parts.some((p) => mine.includes(widStr(p.id))),
    };
  }

  async function groupChat(groupId) {
    if (!/@g\.us$/.test(groupId)) throw new BridgeError('WA_CHAT_NOT_FOUND', groupId + ' is not a group');
    const chat = await findChat(groupId);
    if (!chat.groupMetadata) throw new BridgeError('WA_CHAT_NOT_FOUND', 'no group ' + groupId);
    return chat;
  }

  // Per participant: `{id, code}`, 200 when done (WhatsApp's codes otherwise: 403 privacy
  // settings — an invite is needed, 404 not on WhatsApp / not in the group, 409 already in).
  function participantCodes(results, asked) {
    const out = [];
    for (const r of [].concat(results || [])) {
      const id = widStr(r && (r.wid || r.id));
      if (!id) continue;
      const code = Number(r.error || r.code || 200);
      out.push({ id, code });
    }
    return out.length ? out : asked.map((id) => ({ id, code: 200 }));
  }

  // WhatsApp's server refusals come back as text carrying their code, e.g. `not-authorized (401)`.
  async function serverCall(fn) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof BridgeError) throw e;
      const m = /\((\d{3})\)/.exec(String(e && e.message));
      const code = m && m[1] === '401' ? 'WA_NOT_AUTHORIZED' : m && m[1] === '404' ? 'WA_CHAT_NOT_FOUND' : 'WA_ERROR';
      throw new BridgeError(code, String((e && e.message) || e));
    }
  }

  const groupApi = {
    createGroup: ({ subject, participants }) => serverCall(async () => {
      const create = await capLoad('createGroup');
      const wids = participants.map((p) => cap('createWid')(p));
      const res = await create({ title: subject, memberAddMode: false, membershipApprovalMode: false, announce: false, restrict: false }, wids);
      const gid = widStr(res && (res.wid || res.gid));
      if (!gid) throw new BridgeError('WA_ERROR', 'WhatsApp did not answer with the new group');
      const chat = await groupChat(gid);
      return { group: serializeGroup(chat), participants: participantCodes(res.participants, participants) };
    }),
    listGroups: () => modelsOf(cap('chats')).filter((c) => c && c.id && isGroupWid(c.id) && c.groupMetadata).map(serializeGroup),
    getGroup: ({ groupId }) => serverCall(async () => {
      const chat = await groupChat(groupId);
      try {
        await cap('groupQuery')({ id: chat.id });
      } catch (e) {
        if (!(e instanceof BridgeError)) throw e; // no query module: what the page holds
      }
      return serializeGroup(chat);
    }),
    groupParticipants: ({ groupId, action, participants }) => serverCall(async () => {
      const chat = await groupChat(groupId);
      const name = { add: 'addParticipants', remove: 'removeParticipants', promote: 'promoteParticipants', demote: 'demoteParticipants' }[action];
      if (!name) throw new BridgeError('WA_ERROR', 'unknown participants action ' + action);
      const res = await cap(name)(chat, participants.map((p) => cap('createWid')(p)));
      return { group: serializeGroup(chat), participants: participantCodes(res, participants) };
    }),
    updateGroup: ({ groupId, subject, description, announce, restrict }) => serverCall(async () => {
      const chat = await groupChat(groupId);
      if (typeof subject === 'string') await cap('groupSubject')(chat.id, subject);
      if (typeof description === 'string') {
        const set = cap('groupDescription');
        const prev = (chat.groupMetadata && chat.groupMetadata.descId) || null;
        const newId = cap('msgKey').newId ? await cap('msgKey').newId() : String(Date.now());
        // 2026 builds take one object (anchors §3.2); older ones positional arguments.
        try {
          await set({ desc: description, groupWid: chat.id, newDescId: newId, prevDescId: prev });
        } catch (e) {
          if (!(e instanceof TypeError)) throw e;
          await set(chat.id, description, newId, prev);
        }
      }
      if (typeof announce === 'boolean') await cap('groupProperty')(chat, 'announcement', announce ? 1 : 0);
      if (typeof restrict === 'boolean') await cap('groupProperty')(chat, 'restrict', restrict ? 1 : 0);
      return serializeGroup(chat);
    }),
    groupInvite: ({ groupId, revoke }) => serverCall(async () => {
      const chat = await groupChat(groupId);
      if (revoke) {
        const res = await (await capLoad('revokeGroupInvite'))(chat.id);
        return (res && (res.code || res.inviteCode)) || res;
      }
      return (await capLoad('groupInviteCode'))(chat.id);
    }),
    setGroupPicture: ({ groupId, picture, thumb }) => serverCall(async () => {
      const chat = await groupChat(groupId);
      const res = picture ? await cap('setPicture')(chat.id, thumb, picture) : await cap('deletePicture')(chat.id);
      // Some builds answer a refusal as { status } instead of throwing.
      const status = res && typeof res.status === 'number' ? res.status : 200;
      if (status !== 200) throw new Error('picture refused (' + status + ')');
      return serializeGroup(chat);
    }),
    leaveGroup: ({ groupId }) => serverCall(async () => {
      const chat = await groupChat(groupId);
      await cap('exitGroup')(chat);
      return serializeGroup(chat);
    }),
    joinGroup: ({ code }) => serverCall(async () => {
      const res = await (await capLoad('joinGroupViaInvite'))(code);
      const gid = widStr(res && (res.gid || res.wid || res));
      if (!gid) throw new BridgeError('WA_ERROR', 'WhatsApp did not answer with the group');
      return serializeGroup(await groupChat(gid));
    }),
  };

  // The newest `limit` messages of the page's store since `since` (unix seconds) that `keep`
  // accepts, oldest first.
  function recentMsgs(keep, since, limit) {
    const Msg = cap('msgs');
    const all = typeof Msg.getModelsArray === 'function' ? Msg.getModelsArray() : Msg.models || [];
    return all
      .filter((m) => m && m.id && keep(m) && (m.t || 0) >= since)
      .sort((a, b) => (a.t || 0) - (b.t || 0))
      .slice(-limit);
  }

  // --- the call table -----------------------------------------------------------------------------

  const api = {
    state: () => snapshot(),
    me: () => me(),
    qr: () => qrPayload(),
    refreshQr: () => Promise.resolve(cap('refreshQr')()).then(() => true),
    requestPairingCode: async ({ phone }) => {
      cap('pairingCode');
      const link = tryRequire('WAWebAltDeviceLinkingApi');
      if (typeof link.setPairingType === 'function') link.setPairingType('ALT_DEVICE_LINKING');
      if (typeof link.initializeAltDeviceLinking === 'function') await link.initializeAltDeviceLinking();
      const code = await cap('pairingCode')(phone, true);
      push('code', code);
      return code;
    },
    checkNumber: async ({ chatId }) => {
      const wid = cap('createWid')(chatId);
      const res = await cap('queryExists')(wid);
      if (!res || !res.wid) return null;
      const found = widStr(res.wid);
      // 2026 answers carry the other half of the pair.
      if (res.lid) learn(widStr(res.lid), found);
      if (/@lid$/.test(found || '')) phoneOf(found);
      return found;
    },
    // A real round trip through WhatsApp's server (the own number's exists query), bounded in
    // the page: a page that still says CONNECTED but no longer reaches its server is found out.
    probe: async ({ timeoutMs }) => {
      const { pn, lid } = meWids();
      const own = pn || lid;
      const started = Date.now();
      if (!own) return { ms: 0, linked: false };
      await deadline(Promise.resolve(cap('queryExists')(own)), timeoutMs, 'WA_PAGE_UNRESPONSIVE',
        'WhatsApp Web did not answer a round trip within ' + timeoutMs + ' ms');
      return { ms: Date.now() - started, linked: true };
    },
    // Every capability of CAPS, resolved now (lazy ones through the Bootloader).
    capabilities: async () => {
      const out = [];
      for (const name of Object.keys(CAPS)) {
        const optional = CAPS[name].every((c) => c.optional);
        try {
          await capLoad(name);
          const r = resolved[name];
          out.push({ name, ok: true, optional, via: r.via, fallback: r.fallback, lazy: r.lazy });
        } catch (e) {
          out.push({ name, ok: false, optional, error: e.code || 'WA_ERROR', message: String(e.message || e) });
        }
      }
      return { version: (window.Debug && window.Debug.VERSION) || null, capabilities: out };
    },
    sendText: (o) => once(o.keyId, () => sendText(o)),
    // Every chat the page has, newest activity first.
    listChats: () => modelsOf(cap('chats')).filter((c) => c && c.id).map(serializeChat)
      .sort((a, b) => (b.t || 0) - (a.t || 0)),
    chatMessages: (o) => chatMessages(o),
    // The address book and everyone the page met: users only (groups are chats).
    listContacts: () => modelsOf(cap('contacts'))
      .filter((c) => c && c.id && !isGroupWid(c.id) && /@(c\.us|lid)$/.test(widStr(c.id) || ''))
      .map(serializeContact),
    contactInfo: (o) => contactInfo(o),
    ...groupApi,
    // Blocks or unblocks a user. Current builds refuse a phone-keyed block: the contact is the
    // LID's when the page knows it (anchors-2026-11 §3.2; OpenWA patch 8).
    setBlocked: ({ contactId, blocked }) => serverCall(async () => {
      const Contact = cap('contacts');
      let lid = /@c\.us$/.test(contactId) ? lidOf(contactId) : null;
      // Unknown yet: the exists query tells a 2026 page the LID along.
      if (!lid && /@c\.us$/.test(contactId)) {
        await api.checkNumber({ chatId: contactId }).catch(() => null);
        lid = lidOf(contactId);
      }
      const id = lid || contactId;
      let c = typeof Contact.get === 'function' ? Contact.get(id) : null;
      if (!c && typeof Contact.find === 'function') c = await Contact.find(cap('createWid')(id));
      if (!c) throw new BridgeError('WA_CHAT_NOT_FOUND', 'no contact ' + contactId);
      if (blocked) await cap('blockContact')({ contact: c, blockEntryPoint: 'profile' });
      else await cap('unblockContact')(c);
      return serializeContact(c);
    }),
    rejectCall: (o) => rejectCall(o),
    // Messages from others in the page's store since `sinceT` (unix seconds), oldest first, at most
    // `limit`: what arrived while the gateway was not listening (a reload, a crash) is read back.
    recentIncoming: ({ since, limit }) => recentMsgs((m) => !m.id.fromMe && m.type !== 'gp2', since, limit).map(serializeMsg),
    // Messages since `since` (unix seconds) that were deleted for everyone or edited, as they
    // are now: [{id, revoked, body}], oldest first, at most `limit`. An edit or a delete that came
    // while nobody listened (a reload, a crash) changed the store but raised nothing.
    recentChanges: ({ since, limit }) => recentMsgs((m) => m.type === 'revoked' || !!m.latestEditMsgKey, since, limit).map((m) => ({
      id: keyStr(m.id),
      revoked: m.type === 'revoked',
      body: m.type === 'revoked' ? null : (typeof m.caption === 'string' && m.type !== 'chat' ? m.caption : m.body || ''),
    })),
    // Group notifications that came while nobody listened, as the live `group` event has them.
    recentGroupNotes: ({ since, limit }) => recentMsgs((m) => m.type === 'gp2', since, limit).map(serializeGroupNote),
    // The current ack of each of these messages (serialised ids) that the page has: [[id, ack], …].
    // After a restart or a reconnect, acks that came while nobody listened are read back here.
    acksOf: async ({ ids }) => {
      const Msg = cap('msgs');
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
          if (m && m.id && typeof m.ack === 'number') out.push([keyStr(m.id), m.ack]);
        }
      }
      return out;
    },
    // A message this device sent, by the key id chosen before sending: `{id, t, ack}` or null.
    // How a send interrupted by a crash or a timeout is settled by evidence, not by guessing.
    findSent: async ({ chatId, keyId }) => {
      if (inflight.has(keyId)) throw new BridgeError('WA_SEND_IN_FLIGHT', 'this page is still sending ' + keyId);
      const Msg = cap('msgs');
      if (forwardedByKey.has(keyId)) {
        const copy = typeof Msg.get === 'function' ? Msg.get(forwardedByKey.get(keyId)) : null;
        if (copy) return { id: keyStr(copy.id), t: copy.t || 0, ack: typeof copy.ack === 'number' ? copy.ack : 0 };
      }
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
      return { id: keyStr(found.id), t: found.t || 0, ack: typeof found.ack === 'number' ? found.ack : 0 };
    },
    // "typing…" (composing), "recording audio…" (recording) or neither (paused) in a chat;
    // online (available) or offline (unavailable) for everyone.
    chatState: async ({ chatId, state }) => {
      if (state === 'available' || state === 'unavailable') {
        await cap(state === 'available' ? 'presenceAvailable' : 'presenceUnavailable')();
        return true;
      }
      const name = { composing: 'chatStateComposing', recording: 'chatStateRecording', paused: 'chatStatePaused' }[state];
      if (!name) throw new BridgeError('WA_ERROR', 'unknown chat state ' + state);
      await cap(name)(cap('createWid')(chatId));
      return true;
    },
    subscribePresence: (o) => subscribePresence(o),
    presenceOf: (o) => presenceOf(o),
    // A read receipt for the chat (the sender's blue ticks).
    markRead: async ({ chatId }) => {
      await markSeen(await findChat(chatId));
      return true;
    },
    downloadMedia: async ({ msgId }) => {
      const download = cap('downloadMedia');
      const msg = await findMsg(msgId);
      if (!msg) throw new BridgeError('WA_MESSAGE_NOT_FOUND', 'no message ' + msgId + ' in this page');
      if (!msg.directPath) throw new BridgeError('WA_MEDIA_MISSING', 'the message has no media to download');
      // Builds of 2026 refuse a download without the mimetype (InvalidMediaFileType).
      const buf = await download({
        directPath: msg.directPath,
        encFilehash: msg.encFilehash,
        filehash: msg.filehash,
        mediaKey: msg.mediaKey,
        mediaKeyTimestamp: msg.mediaKeyTimestamp,
        type: msg.type,
        mimetype: msg.mimetype,
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
    sendLocation: (o) => once(o.keyId, () => sendLocation(o)),
    sendContacts: (o) => once(o.keyId, () => sendContacts(o)),
    sendPoll: (o) => once(o.keyId, () => sendPoll(o)),
    sendReaction: (o) => once(o.keyId, () => sendReaction(o)),
    editMessage: (o) => once(o.keyId, () => editMessage(o)),
    revokeMessage: (o) => once(o.keyId, () => revokeMessage(o)),
    forwardMessage: (o) => once(o.keyId, () => forwardMessage(o)),
    logout: () => {
      const s = socket();
      if (typeof s.logout !== 'function') throw new BridgeError('WA_MEMBER_MISSING:WAWebSocketModel.Socket.logout');
      return Promise.resolve(s.logout()).then(() => true);
    },
  };

  window.__wagate = {
    version: VERSION,
    // `doc`: the bridge `after` counts in, if the gateway knows it; another document's count
    // means nothing here, and everything queued is new to the gateway.
    drain(after, doc) {
      if (doc && doc !== DOC) after = 0;
      const missing = ensureSubscribed();
      const events = queue.filter((e) => e.seq > after);
      // Everything up to `after` has been taken by the Rust side: forget it.
      while (queue.length && queue[0].seq <= after) queue.shift();
      // Counted since the previous drain.
      const lost = dropped;
      dropped = 0;
      return { doc: DOC, seq, events, dropped: lost, missing, snapshot: snapshot() };
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

  // A subscription whose module is not there yet is tried again every second for a minute (a
  // drain tries too, but drains are rare now that events come with the rings).
  let retries = 60;
  (function retrySubscriptions() {
    if (ensureSubscribed().length && retries-- > 0) setTimeout(retrySubscriptions, 1000);
  })();
  try {
    const s = socket();
    push('state', s.state);
    if (s.state === 'UNPAIRED' || s.state === 'UNPAIRED_IDLE') emitQr();
    const pk = passkeyNow();
    if (pk) push('passkey', pk);
    // The page may have synced before we were here: report it, not only its change (§5.2 ii).
    if (s.hasSynced) push('synced', me());
  } catch (e) {
    push('error', { code: e.code || 'WA_ERROR', message: String(e.message || e) });
  }
  return { status: 'installed' };
})(arguments[0]);
