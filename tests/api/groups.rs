//! Groups through the API, round-tripping through the simulated WhatsApp servers: create (who
//! could not be added, and why), list, get, participants, subject/description/settings, the
//! invite link, leave and join; bad input is 400 naming the field.

use serde_json::{Value, json};

use crate::both_backends;
use crate::common::*;
use crate::support::*;

const DEVICE: &str = "15550001901";
const ALICE: &str = "15550002201";
const BOB: &str = "15550002202";
const PRIVATE: &str = "15550002203";
const NOBODY: &str = "15550002204";

fn outcome<'a>(data: &'a Value, phone: &str) -> &'a Value {
    data["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_str().unwrap().starts_with(phone))
        .unwrap_or_else(|| panic!("no outcome for {phone}: {data}"))
}

fn member<'a>(group: &'a Value, phone: &str) -> Option<&'a Value> {
    group["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phone"] == phone)
}

/// The phones in the group on WhatsApp's servers, with their admin flags.
async fn on_server(sim: &wagate_sim::Simulator, gid: &str) -> Vec<(String, bool)> {
    let g = sim.control().group(gid).await.expect("the group is on the server");
    g.participants
        .into_iter()
        .map(|(id, admin)| (id.trim_end_matches("@c.us").to_string(), admin))
        .collect()
}

async fn groups(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", DEVICE).await;
    sim.control().set_group_add_allowed(PRIVATE, false).await;
    sim.control().set_number_exists(NOBODY, false).await;

    // Create: who could not be added, and why.
    let created = json(
        app.post_json(
            "/api/v1/groups/",
            &key,
            json!({ "subject": "Team", "participants": [ALICE, format!("+{BOB}"), PRIVATE, NOBODY] }),
        )
        .await,
        200,
    )
    .await["data"]
        .clone();
    let gid = created["group"]["id"].as_str().unwrap().to_string();
    assert!(gid.ends_with("@g.us"), "{created}");
    assert_eq!(outcome(&created, ALICE)["ok"], true);
    assert_eq!(outcome(&created, BOB)["ok"], true);
    assert_eq!(outcome(&created, PRIVATE)["code"], 403);
    assert!(
        outcome(&created, PRIVATE)["reason"]
            .as_str()
            .unwrap()
            .contains("invite")
    );
    assert_eq!(outcome(&created, NOBODY)["code"], 404);
    assert_eq!(outcome(&created, NOBODY)["reason"], "not on WhatsApp");
    assert_eq!(
        on_server(&sim, &gid).await,
        [
            (DEVICE.to_string(), true),
            (ALICE.to_string(), false),
            (BOB.to_string(), false)
        ]
    );

    // List and get: participants with admin flags.
    let list = json(app.get("/api/v1/groups/", &key).await, 200).await["data"].clone();
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == gid.as_str())
        .expect("listed");
    assert_eq!(listed["subject"], "Team");
    let group = json(app.get(&format!("/api/v1/groups/{gid}/"), &key).await, 200).await["data"].clone();
    assert_eq!(group["isMember"], true);
    let me = member(&group, DEVICE).expect("the account is a member");
    assert_eq!(
        (me["isAdmin"].clone(), me["isSuperAdmin"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(member(&group, ALICE).unwrap()["isAdmin"], false);
    assert!(member(&group, PRIVATE).is_none());

    // Participants: promote, demote, remove, add again.
    let path = format!("/api/v1/groups/{gid}/participants/");
    let promoted = json(
        app.post_json(&path, &key, json!({ "action": "promote", "participants": [ALICE] }))
            .await,
        200,
    )
    .await;
    assert_eq!(member(&promoted["data"]["group"], ALICE).unwrap()["isAdmin"], true);
    assert!(on_server(&sim, &gid).await.contains(&(ALICE.to_string(), true)));
    json(
        app.post_json(&path, &key, json!({ "action": "demote", "participants": [ALICE] }))
            .await,
        200,
    )
    .await;
    assert!(on_server(&sim, &gid).await.contains(&(ALICE.to_string(), false)));
    let removed = json(
        app.post_json(&path, &key, json!({ "action": "remove", "participants": [BOB] }))
            .await,
        200,
    )
    .await;
    assert_eq!(outcome(&removed["data"], BOB)["ok"], true);
    assert!(member(&removed["data"]["group"], BOB).is_none());
    let again = json(
        app.post_json(&path, &key, json!({ "action": "remove", "participants": [BOB] }))
            .await,
        200,
    )
    .await;
    assert_eq!(outcome(&again["data"], BOB)["code"], 404);
    let added = json(
        app.post_json(
            &path,
            &key,
            json!({ "action": "add", "participants": [BOB, PRIVATE, ALICE] }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(outcome(&added["data"], BOB)["ok"], true);
    assert_eq!(outcome(&added["data"], PRIVATE)["code"], 403);
    assert_eq!(outcome(&added["data"], ALICE)["code"], 409);

    // Subject, description, settings.
    let patched = json(
        app.send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/groups/{gid}/"),
            &key,
            json!({ "subject": "Team 2027", "description": "Plans", "announce": true, "restrict": true }),
        )
        .await,
        200,
    )
    .await["data"]
        .clone();
    assert_eq!(patched["subject"], "Team 2027");
    assert_eq!(patched["description"], "Plans");
    assert_eq!(
        (patched["announce"].clone(), patched["restrict"].clone()),
        (json!(true), json!(true))
    );
    let server = sim.control().group(&gid).await.unwrap();
    assert_eq!(server.subject, "Team 2027");
    assert_eq!(server.description.as_deref(), Some("Plans"));
    assert!(server.announce && server.restrict);

    // The invite link, revoked: a new code.
    let invite = json(app.get(&format!("/api/v1/groups/{gid}/invite/"), &key).await, 200).await["data"].clone();
    let old = invite["code"].as_str().unwrap().to_string();
    assert_eq!(old, sim.control().group(&gid).await.unwrap().invite_code);
    assert_eq!(invite["link"], format!("https://chat.whatsapp.com/{old}"));
    let revoked = json(
        app.send_json(
            reqwest::Method::DELETE,
            &format!("/api/v1/groups/{gid}/invite/"),
            &key,
            json!(null),
        )
        .await,
        200,
    )
    .await["data"]
        .clone();
    let new = revoked["code"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(new, sim.control().group(&gid).await.unwrap().invite_code);

    // Leave; the revoked link no longer works; the new one does (as a plain member now).
    let left = json(
        app.post_json(&format!("/api/v1/groups/{gid}/leave/"), &key, json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(left["data"]["isMember"], false);
    assert!(!on_server(&sim, &gid).await.iter().any(|(p, _)| p == DEVICE));
    let stale = json(
        app.post_json("/api/v1/groups/join/", &key, json!({ "code": old }))
            .await,
        502,
    )
    .await;
    assert_error(&stale, "WA_CHAT_NOT_FOUND");
    let joined = json(
        app.post_json(
            "/api/v1/groups/join/",
            &key,
            json!({ "code": format!("https://chat.whatsapp.com/{new}") }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(joined["data"]["id"], gid.as_str());
    assert_eq!(joined["data"]["isMember"], true);
    assert!(on_server(&sim, &gid).await.contains(&(DEVICE.to_string(), false)));
    // Edit-info is admins-only now, and the account is no admin: WhatsApp refuses.
    let refused = json(
        app.send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/groups/{gid}/"),
            &key,
            json!({ "subject": "Mine" }),
        )
        .await,
        403,
    )
    .await;
    assert_error(&refused, "WA_NOT_AUTHORIZED");
    assert_eq!(sim.control().group(&gid).await.unwrap().subject, "Team 2027");

    // Bad input: 400 naming the field, nothing changed on the server.
    let before = sim.control().group(&gid).await.unwrap().participants.len();
    for (method, path, body, field) in [
        (
            reqwest::Method::POST,
            "/api/v1/groups/".to_string(),
            json!({ "subject": " ", "participants": [ALICE] }),
            "subject",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/groups/".to_string(),
            json!({ "subject": "x".repeat(101), "participants": [ALICE] }),
            "subject",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/groups/".to_string(),
            json!({ "subject": "T", "participants": [] }),
            "participants",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/groups/".to_string(),
            json!({ "subject": "T", "participants": [ALICE, "nope"] }),
            "participants[1]",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/groups/".to_string(),
            json!({ "subject": "T", "participants": [gid.clone()] }),
            "participants[0]",
        ),
        (
            reqwest::Method::POST,
            path.clone(),
            json!({ "action": "kick", "participants": [ALICE] }),
            "action",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/groups/abc/participants/".to_string(),
            json!({ "action": "add", "participants": [ALICE] }),
            "groupId",
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/groups/{gid}/"),
            json!({}),
            "subject",
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/groups/{gid}/"),
            json!({ "description": "d".repeat(2049) }),
            "description",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/groups/join/".to_string(),
            json!({ "code": "not a code!" }),
            "code",
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/groups/{ALICE}@c.us/"),
            json!(null),
            "groupId",
        ),
    ] {
        let resp = json(app.send_json(method, &path, &key, body).await, 400).await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{path}: {resp}");
    }
    let unknown = json(
        app.post_json("/api/v1/groups/join/", &key, json!({ "code": "AbC", "colour": 1 }))
            .await,
        400,
    )
    .await;
    assert_error(&unknown, "BAD_REQUEST");
    assert_eq!(sim.control().group(&gid).await.unwrap().participants.len(), before);
    let away = json(app.get("/api/v1/groups/?session=other", &key).await, 409).await;
    assert_error(&away, "SESSION_NOT_CONNECTED");
}
both_backends!(groups_round_trip_through_whatsapp, groups);

/// Changes made by others on their phones (someone added, someone removed, a new subject) arrive
/// as `group.join`, `group.leave` and `group.update`, each once, in the documented shape, and as
/// stored `gp2` rows; none of them is a plain `message`.
async fn changes_by_others(backend: Backend) {
    const CAROL: &str = "15550002205";
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = crate::receiver::Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url })).await;
    app.link(&sim, &key, "default", DEVICE).await;
    let created = json(
        app.post_json(
            "/api/v1/groups/",
            &key,
            json!({ "subject": "Crew", "participants": [ALICE, BOB] }),
        )
        .await,
        200,
    )
    .await;
    let gid = created["data"]["group"]["id"].as_str().unwrap().to_string();
    json(
        app.post_json(
            &format!("/api/v1/groups/{gid}/participants/"),
            &key,
            json!({ "action": "promote", "participants": [ALICE] }),
        )
        .await,
        200,
    )
    .await;

    // Alice, an admin now, changes the group on her phone.
    let change = |action: &str, participants: &[&str], subject: Option<&str>| wagate_sim::GroupChange {
        group: gid.clone(),
        author: ALICE.into(),
        action: action.into(),
        participants: participants.iter().map(|p| p.to_string()).collect(),
        subject: subject.map(str::to_string),
        ..Default::default()
    };
    let control = sim.control();
    let mut ids = Vec::new();
    for c in [
        change("add", &[CAROL], None),
        change("remove", &[BOB], None),
        change("subject", &[], Some("Crew 2027")),
    ] {
        let told = control.change_group(c).await.unwrap();
        let mine = told.iter().find(|t| t.phone == DEVICE).expect("the account is told");
        ids.push(mine.id.clone());
    }
    let server = control.group(&gid).await.unwrap();
    assert_eq!(server.subject, "Crew 2027");
    let phones: Vec<&str> = server
        .participants
        .iter()
        .map(|(p, _)| p.trim_end_matches("@c.us"))
        .collect();
    assert_eq!(phones, [DEVICE, ALICE, CAROL]);

    let is_group = |r: &crate::receiver::Received| r.json()["event"].as_str().unwrap().starts_with("group.");
    rx.wait_for(30, "three group events", |g| {
        g.iter().filter(|r| is_group(r)).count() >= 3
    })
    .await;
    // Anything late (a duplicate, a plain message) would arrive within this.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let events: Vec<Value> = rx.received().iter().map(|r| r.json()).collect();
    assert!(
        !events.iter().any(|e| e["event"] == "message"),
        "a group notification raised a plain message event: {events:#?}"
    );
    let group_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"].as_str().unwrap().starts_with("group."))
        .collect();
    assert_eq!(group_events.len(), 3, "each change exactly once: {group_events:#?}");
    let expected = [
        ("group.join", "add", Some(CAROL)),
        ("group.leave", "remove", Some(BOB)),
        ("group.update", "subject", None),
    ];
    for ((e, (event, action, who)), id) in group_events.iter().zip(expected).zip(&ids) {
        let p = &e["payload"];
        assert_eq!(e["event"], event, "{e}");
        assert_eq!(e["session"], "default", "{e}");
        assert_eq!(p["id"], id.as_str(), "{e}");
        assert!(p["dbId"].is_i64(), "{e}");
        assert_eq!(p["groupId"], gid.as_str(), "{e}");
        assert_eq!(p["action"], action, "{e}");
        assert_eq!(p["authorPhone"], ALICE, "{e}");
        assert!(
            p["author"]
                .as_str()
                .is_some_and(|a| a.ends_with("@c.us") || a.ends_with("@lid")),
            "{e}"
        );
        assert!(p["timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000), "{e}");
        match who {
            Some(phone) => {
                assert_eq!(p["participantPhones"], json!([phone]), "{e}");
                assert_eq!(p["participants"].as_array().unwrap().len(), 1, "{e}");
            }
            None => {
                assert_eq!(p["participants"], json!([]), "{e}");
                assert_eq!(p["subject"], "Crew 2027", "{e}");
            }
        }
    }

    // Stored: one `gp2` row each, with the change in `group`.
    let rows = json(app.get("/api/v1/messages/?limit=500", &key).await, 200).await["data"]["messages"]
        .as_array()
        .unwrap()
        .clone();
    let gp2: Vec<&Value> = rows.iter().filter(|m| m["type"] == "gp2").collect();
    assert_eq!(gp2.len(), 3, "{rows:#?}");
    for ((event, action, _), id) in expected.iter().zip(&ids) {
        let row = gp2
            .iter()
            .find(|r| r["messageId"] == id.as_str())
            .unwrap_or_else(|| panic!("no row for {event}: {gp2:#?}"));
        assert_eq!(row["direction"], "in");
        assert_eq!(row["chatId"], gid.as_str());
        assert_eq!(row["group"]["action"], *action, "{row}");
        assert_eq!(row["senderPhone"], ALICE, "{row}");
    }

    // A change made while the gateway is down reaches the page when it comes back, and is an
    // event then: nothing the group did is lost to a restart.
    let sim_control = sim.control();
    let _app = app.restart_with(|s| point_at(s, &sim)).await;
    let told = sim_control.change_group(change("add", &[BOB], None)).await.unwrap();
    assert!(told.iter().any(|t| t.phone == DEVICE), "the account is a member");
    rx.wait_for(60, "the change made while down", |g| {
        g.iter().filter(|r| is_group(r)).count() >= 4
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let late: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|e| e["event"].as_str().is_some_and(|k| k.starts_with("group.")))
        .collect();
    assert_eq!(late.len(), 4, "once each: {late:#?}");
    assert_eq!(late[3]["event"], "group.join", "{late:#?}");
    assert_eq!(late[3]["payload"]["participantPhones"], json!([BOB]), "{late:#?}");
}
both_backends!(group_changes_by_others_are_events, changes_by_others);

/// The picture's JPEG from a `data:image/jpeg;base64,…` URL the page sent, decoded.
fn jpeg_of(data_url: &str) -> image::DynamicImage {
    use base64::Engine as _;
    let b64 = data_url
        .strip_prefix("data:image/jpeg;base64,")
        .expect("a JPEG data URL");
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap()
}

/// A group's picture: a PNG or JPEG body becomes WhatsApp's 640×640 JPEG and 96×96 thumbnail on
/// the server, DELETE removes it; an empty body is 400 naming `picture`, bytes that are not a
/// JPEG or PNG are 415, and nothing reaches the server on a refusal.
async fn picture(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", DEVICE).await;
    let created = json(
        app.post_json(
            "/api/v1/groups/",
            &key,
            json!({ "subject": "Pictures", "participants": [ALICE] }),
        )
        .await,
        200,
    )
    .await;
    let gid = created["data"]["group"]["id"].as_str().unwrap().to_string();
    let put = |path: String, body: Vec<u8>| {
        app.http
            .put(app.url(&path))
            .header("Authorization", format!("ApiKey {key}"))
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .send()
    };
    let path = format!("/api/v1/groups/{gid}/picture/");

    let refused = [
        (Vec::new(), 400, "VALIDATION_ERROR"),
        (b"%PDF-1.7 not a picture".to_vec(), 415, "UNSUPPORTED_MEDIA_TYPE"),
        (png_bytes(400), 415, "UNSUPPORTED_MEDIA_TYPE"),
    ];
    for (body, status, code) in refused {
        let answer = json(put(path.clone(), body).await.unwrap(), status).await;
        assert_error(&answer, code);
        if status == 400 {
            assert_eq!(answer["field"], "picture", "{answer}");
        }
    }
    let bad_id = json(put("/api/v1/groups/nope/picture/".into(), vec![1]).await.unwrap(), 400).await;
    assert_eq!(bad_id["field"], "groupId", "{bad_id}");
    assert!(
        sim.control().group(&gid).await.unwrap().picture.is_none(),
        "nothing reached WhatsApp"
    );

    // A wide photo: the centred square, as WhatsApp's two JPEG sizes.
    let photo = image::RgbImage::from_fn(400, 200, |x, _| image::Rgb([if x < 100 { 255 } else { 0 }, 120, 200]));
    for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(photo.clone())
            .write_to(&mut bytes, format)
            .unwrap();
        let answer = json(put(path.clone(), bytes.into_inner()).await.unwrap(), 200).await;
        assert_eq!(answer["data"]["id"], gid.as_str());
        let on_server = sim.control().group(&gid).await.unwrap();
        let full = jpeg_of(on_server.picture.as_deref().expect("the picture is set"));
        let thumb = jpeg_of(on_server.picture_thumb.as_deref().expect("with its thumbnail"));
        assert_eq!((full.width(), full.height()), (640, 640), "{format:?}");
        assert_eq!((thumb.width(), thumb.height()), (96, 96), "{format:?}");
        // The left quarter (red) was cropped away.
        assert!(full.to_rgb8().get_pixel(5, 320).0[0] < 60, "{format:?}");
    }

    let removed = app
        .http
        .delete(app.url(&path))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap();
    json(removed, 200).await;
    let on_server = sim.control().group(&gid).await.unwrap();
    assert!(on_server.picture.is_none() && on_server.picture_thumb.is_none());
}
both_backends!(a_groups_picture_is_set_and_removed, picture);
