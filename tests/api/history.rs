//! Reading the account's world through the page: `GET /api/v1/chats/` (filters, paging),
//! `GET /api/v1/chats/{chatId}/messages/` (paged backwards, earlier messages loaded from the
//! phone, merged with stored rows by WhatsApp id) and `GET /api/v1/contacts/…` (address book,
//! business flag, phone and LID, profile picture and about).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use wagate_sim::{ChatSeed, ContactSeed, Era, HistoryMessage, Profile};

use crate::both_backends;
use crate::common::*;
use crate::support::*;

const DEVICE: &str = "15550001801";
const ALICE: &str = "15550002101";
const BOB: &str = "15550002102";
const SHOP: &str = "15550002103";
const TEAM: &str = "120363000000000101@g.us";
/// Messages in Alice's chat on the phone: more than the page gets at history sync.
const ALICE_HISTORY: usize = 45;

fn history(n: usize, base: i64, text: &str) -> Vec<HistoryMessage> {
    (0..n)
        .map(|i| HistoryMessage {
            from_me: i % 3 == 0,
            body: format!("{text} {i}"),
            t: base + i as i64,
            author: None,
        })
        .collect()
}

/// `GET` until `done` holds for the answer's data (the phone's data reaches the page shortly).
async fn get_until(app: &TestApp, path: &str, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..80 {
        last = json(app.get(path, key).await, 200).await["data"].clone();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{path}: never as expected; last: {last}");
}

async fn chats_and_history(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", DEVICE).await;
    let base = chrono::Utc::now().timestamp() - 10_000;
    let phone = sim.control();
    let alice_ids = phone
        .seed_chat(
            DEVICE,
            ChatSeed {
                id: format!("{ALICE}@c.us"),
                name: Some("Alice".into()),
                unread: 2,
                messages: history(ALICE_HISTORY, base, "alice"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    phone
        .seed_chat(
            DEVICE,
            ChatSeed {
                id: format!("{BOB}@c.us"),
                name: Some("Bob".into()),
                messages: history(2, base - 500, "bob"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    phone
        .seed_chat(
            DEVICE,
            ChatSeed {
                id: TEAM.into(),
                name: Some("Team".into()),
                archived: true,
                messages: vec![HistoryMessage {
                    from_me: false,
                    body: "standup?".into(),
                    t: base - 100,
                    author: Some(format!("{BOB}@c.us")),
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // One message through wagate: stored, and in the page.
    let sent = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": ALICE, "message": "latest from wagate" }),
        )
        .await,
        200,
    )
    .await;
    let sent_id = sent["data"]["messageId"].as_str().unwrap().to_string();
    let sent_db = sent["data"]["dbId"].as_i64().unwrap();

    // The chat list: newest activity first, names, kinds, unread counts, the last message.
    let all = get_until(&app, "/api/v1/chats/", &key, |d| d["total"] == 3).await;
    let chats = all["chats"].as_array().unwrap();
    let names: Vec<&str> = chats.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Alice", "Team", "Bob"], "{all}");
    assert_eq!(chats[0]["kind"], "user");
    assert_eq!(chats[0]["phone"], ALICE);
    assert_eq!(chats[0]["unreadCount"], 2);
    assert_eq!(chats[0]["lastMessage"]["body"], "latest from wagate");
    assert_eq!(chats[0]["lastMessage"]["messageId"], sent_id.as_str());
    assert_eq!(chats[0]["lastMessage"]["fromMe"], true);
    assert_eq!(chats[1]["kind"], "group");
    assert_eq!(chats[1]["id"], TEAM);
    assert_eq!(chats[1]["archived"], true);
    assert_eq!(chats[1]["phone"], Value::Null);
    assert_eq!(chats[1]["lastMessage"]["body"], "standup?");
    assert_eq!(all["nextOffset"], Value::Null);
    let peer = peer_id(&sim, ALICE).await;
    assert_eq!(chats[0]["id"], peer.as_str());

    // Filters and paging.
    for (query, expect) in [
        ("unread=true", vec!["Alice"]),
        ("unread=false", vec!["Team", "Bob"]),
        ("archived=true", vec!["Team"]),
        ("archived=false&kind=user", vec!["Alice", "Bob"]),
        ("kind=group", vec!["Team"]),
    ] {
        let d = json(app.get(&format!("/api/v1/chats/?{query}"), &key).await, 200).await;
        let got: Vec<&str> = d["data"]["chats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, expect, "{query}");
        assert_eq!(d["data"]["total"], expect.len(), "{query}");
    }
    let first = json(app.get("/api/v1/chats/?limit=2", &key).await, 200).await["data"].clone();
    assert_eq!(first["chats"].as_array().unwrap().len(), 2);
    assert_eq!(first["nextOffset"], 2);
    let rest = json(app.get("/api/v1/chats/?limit=2&offset=2", &key).await, 200).await["data"].clone();
    assert_eq!(rest["chats"][0]["name"], "Bob");
    assert_eq!(rest["nextOffset"], Value::Null);

    // A row wagate stored that the page does not have (its id is not on the phone), inside the
    // chat's history: merged in by time, once.
    let session = app.state.db.session_by_name(1, "default").await.unwrap().unwrap();
    let stored_only = format!("false_{ALICE}@c.us_STOREDONLY0001");
    let at = chrono::DateTime::from_timestamp(base + 20, 0).unwrap().naive_utc();
    app.state
        .db
        .insert_message(wagate::db::NewMessage {
            direction: "in".into(),
            chat_id: format!("{ALICE}@c.us"),
            body: Some("kept by wagate".into()),
            wa_message_id: Some(stored_only.clone()),
            sent_at: Some(at),
            ..message_row(Some(session.id), "in", wagate::db::MessageStatus::Received)
        })
        .await
        .unwrap();

    // The history, newest first, paged backwards to the start: every message once.
    let mut seen: Vec<Value> = Vec::new();
    let mut path = format!("/api/v1/chats/{ALICE}/messages/?limit=10");
    let mut pages = 0;
    loop {
        let d = json(app.get(&path, &key).await, 200).await["data"].clone();
        pages += 1;
        assert_eq!(d["chatId"], peer.as_str());
        let got = d["messages"].as_array().unwrap();
        assert!(got.len() <= 10, "{d}");
        seen.extend(got.iter().cloned());
        match d["nextBefore"].as_str() {
            Some(before) => path = format!("/api/v1/chats/{ALICE}/messages/?limit=10&before={before}"),
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    let ids: Vec<&str> = seen.iter().map(|m| m["messageId"].as_str().unwrap()).collect();
    let unique: HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a message twice: {ids:?}");
    assert_eq!(ids.len(), ALICE_HISTORY + 2, "{ids:?}");
    // Newest first: our send, then the phone's history from its newest down, with the stored
    // row in its place by time.
    assert_eq!(seen[0]["messageId"], sent_id.as_str());
    assert_eq!(seen[0]["source"], "both");
    assert_eq!(seen[0]["stored"]["id"], sent_db);
    let bodies: Vec<&str> = seen[1..].iter().map(|m| m["body"].as_str().unwrap()).collect();
    let mut expected: Vec<String> = (0..ALICE_HISTORY).rev().map(|i| format!("alice {i}")).collect();
    let kept_at = expected.iter().position(|b| b == "alice 20").unwrap();
    expected.insert(kept_at, "kept by wagate".into());
    assert_eq!(bodies, expected);
    let kept = seen.iter().find(|m| m["messageId"] == stored_only.as_str()).unwrap();
    assert_eq!(kept["source"], "stored");
    // The phone's messages carry the page's ids, in the phone's order.
    let from_phone: Vec<&str> = seen
        .iter()
        .filter(|m| m["source"] == "page")
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    let mut phone_order = alice_ids.clone();
    phone_order.reverse();
    assert_eq!(from_phone, phone_order);
    assert!(
        seen.iter()
            .filter(|m| m["source"] == "page")
            .all(|m| m["stored"].is_null())
    );
    assert!(seen[2]["timestamp"].is_string(), "{}", seen[2]);

    // A cursor the page does not have but wagate stored: placed by its time.
    let d = json(
        app.get(
            &format!("/api/v1/chats/{ALICE}/messages/?limit=2&before={stored_only}"),
            &key,
        )
        .await,
        200,
    )
    .await;
    let bodies: Vec<&str> = d["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["alice 19", "alice 18"], "{d}");

    // Group history: the author of each message.
    let team = json(app.get(&format!("/api/v1/chats/{TEAM}/messages/"), &key).await, 200).await;
    assert_eq!(team["data"]["messages"][0]["body"], "standup?");
    assert_eq!(team["data"]["messages"][0]["authorPhone"], BOB);
    assert_eq!(team["data"]["nextBefore"], Value::Null);

    // Bad input: 400 naming the parameter.
    for (path, field) in [
        ("/api/v1/chats/?unread=maybe", "unread"),
        ("/api/v1/chats/?archived=2", "archived"),
        ("/api/v1/chats/?kind=channel", "kind"),
        ("/api/v1/chats/?limit=0", "limit"),
        ("/api/v1/chats/?offset=-1", "offset"),
        ("/api/v1/chats/?session=../x", "session"),
        ("/api/v1/chats/not-a-number/messages/", "chatId"),
        ("/api/v1/chats/15550002101/messages/?before=nonsense", "before"),
        ("/api/v1/chats/15550002101/messages/?limit=101", "limit"),
    ] {
        let resp = json(app.get(path, &key).await, 400).await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{path}: {resp}");
    }
    let away = json(app.get("/api/v1/chats/?session=other", &key).await, 409).await;
    assert_error(&away, "SESSION_NOT_CONNECTED");
}
both_backends!(chats_list_and_history_read_from_the_page, chats_and_history);

async fn contacts(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", DEVICE).await;
    let phone = sim.control();
    // Alice's chat teaches a 2026-09 page her LID.
    phone
        .seed_chat(
            DEVICE,
            ChatSeed {
                id: format!("{ALICE}@c.us"),
                messages: history(1, chrono::Utc::now().timestamp() - 60, "hi"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for c in [
        ContactSeed {
            id: format!("{ALICE}@c.us"),
            name: Some("Alice Adams".into()),
            push_name: Some("Ali".into()),
            business: false,
        },
        ContactSeed {
            id: format!("{SHOP}@c.us"),
            name: Some("Acme Shop".into()),
            push_name: None,
            business: true,
        },
        ContactSeed {
            id: format!("{BOB}@c.us"),
            name: Some("Bob Brown".into()),
            push_name: None,
            business: false,
        },
    ] {
        phone.seed_contact(DEVICE, c).await.unwrap();
    }
    phone
        .set_profile(
            ALICE,
            Profile {
                about: Some("Hey there".into()),
                picture: true,
            },
        )
        .await;

    let list = get_until(&app, "/api/v1/contacts/", &key, |d| {
        d["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["isMyContact"] == true)
            .count()
            == 3
    })
    .await;
    let by_name = |n: &str| {
        list["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no {n} in {list}"))
    };
    let names: Vec<&str> = list["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Acme Shop", "Alice Adams", "Bob Brown"], "by name: {list}");
    let alice = by_name("Alice Adams");
    assert_eq!(alice["pushName"], "Ali");
    assert_eq!(alice["phone"], ALICE);
    assert_eq!(alice["isBusiness"], false);
    assert_eq!(by_name("Acme Shop")["isBusiness"], true);
    assert!(
        alice["profilePictureUrl"].is_null() && alice["about"].is_null(),
        "only on the one-contact call"
    );
    let page = json(app.get("/api/v1/contacts/?limit=1", &key).await, 200).await["data"].clone();
    assert_eq!(page["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(page["nextOffset"], 1);

    // One contact, with what the server tells: picture and about; none for Bob.
    for id in [ALICE.to_string(), format!("{ALICE}@c.us")] {
        let one = json(app.get(&format!("/api/v1/contacts/{id}/"), &key).await, 200).await["data"].clone();
        assert_eq!(one["name"], "Alice Adams", "{one}");
        assert_eq!(one["phone"], ALICE);
        assert_eq!(one["about"], "Hey there");
        assert!(one["profilePictureUrl"].as_str().unwrap().contains(ALICE), "{one}");
        if phone.era().await == Era::Sep2026 {
            let lid = format!("{}@lid", phone.lid_for(ALICE).await);
            assert_eq!(one["lid"], lid.as_str(), "{one}");
        }
    }
    let bob = json(app.get(&format!("/api/v1/contacts/{BOB}/"), &key).await, 200).await["data"].clone();
    assert_eq!(bob["name"], "Bob Brown");
    assert!(bob["about"].is_null() && bob["profilePictureUrl"].is_null(), "{bob}");

    // The number check still answers at its own path (not taken for a contact id).
    let check = json(
        app.get(&format!("/api/v1/contacts/check/?phone={ALICE}"), &key).await,
        200,
    )
    .await;
    assert_eq!(check["data"]["exists"], true, "{check}");

    // Block and unblock: the server's blocklist follows (a 2026-09 page blocks by LID).
    let blocked = json(
        app.post_json(&format!("/api/v1/contacts/{BOB}/block/"), &key, json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(blocked["data"]["isBlocked"], true, "{blocked}");
    assert_eq!(phone.blocked(DEVICE).await, [format!("{BOB}@c.us")]);
    let unblocked = json(
        app.send_json(
            reqwest::Method::DELETE,
            &format!("/api/v1/contacts/{BOB}/block/"),
            &key,
            json!(null),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(unblocked["data"]["isBlocked"], false);
    assert!(phone.blocked(DEVICE).await.is_empty());
    let bad = json(
        app.post_json(&format!("/api/v1/contacts/{TEAM}/block/"), &key, json!({}))
            .await,
        400,
    )
    .await;
    assert_eq!(bad["field"], "id");
    assert!(phone.blocked(DEVICE).await.is_empty());

    for (path, field) in [
        (format!("/api/v1/contacts/{TEAM}/"), "id"),
        ("/api/v1/contacts/abc/".to_string(), "id"),
        ("/api/v1/contacts/?limit=501".to_string(), "limit"),
        (format!("/api/v1/contacts/{ALICE}/?session=a%20b"), "session"),
    ] {
        let resp = json(app.get(&path, &key).await, 400).await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{path}: {resp}");
    }
    let away = json(
        app.get(&format!("/api/v1/contacts/{ALICE}/?session=other"), &key).await,
        409,
    )
    .await;
    assert_error(&away, "SESSION_NOT_CONNECTED");
}
both_backends!(contacts_read_from_the_page, contacts);
