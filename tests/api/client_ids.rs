//! `id` on sends: the client's key id becomes the message's WhatsApp id (`true_<chat>_<id>`), the
//! phone sees it; a reused id is 409 (racing requests included) and a malformed one 400 naming
//! `id`, nothing stored.

use serde_json::json;

use crate::both_backends;
use crate::common::*;
use crate::support::*;

const DEVICE: &str = "15550001961";
const PEER: &str = "15550002962";

async fn client_chosen_ids(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();
    let peer = peer_id(&sim, PEER).await;

    let text_id = "3EB0C431D5E3A7F1B2C4";
    let text = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "with my own id", "id": text_id }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(text["data"]["messageId"], format!("true_{peer}_{text_id}"), "{text}");
    let place_id = "A1B2C3D4E5F60718293A4B5C6D7E8F90";
    let place = json(
        app.post_json(
            "/api/v1/messages/send-location/",
            &key,
            json!({ "recipient": PEER, "latitude": 1.5, "longitude": 2.5, "id": place_id }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(place["data"]["messageId"], format!("true_{peer}_{place_id}"), "{place}");
    let poll_id = "BAE5F00D12345678";
    let poll = json(
        app.post_json(
            "/api/v1/messages/send-poll/",
            &key,
            json!({ "recipient": PEER, "question": "Which day?", "options": ["Mon", "Tue"], "id": poll_id }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(poll["data"]["messageId"], format!("true_{peer}_{poll_id}"), "{poll}");
    let sent = control.sent(DEVICE).await;
    assert!(
        sent.iter()
            .any(|r| r.id.ends_with(&format!("_{text_id}")) && r.msg_type == "chat"),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|r| r.id.ends_with(&format!("_{place_id}")) && r.msg_type == "location"),
        "{sent:?}"
    );

    // Reused (sent, or still queued: ?async=true) → 409; malformed → 400 on `id`; nothing stored.
    let queued_id = "0123456789ABCDEF";
    let resp = app
        .post_json(
            "/api/v1/messages/send-text/?async=true",
            &key,
            json!({ "recipient": PEER, "message": "queued", "id": queued_id }),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let before = stored_messages(&app, &key).await.len();
    for id in [text_id, place_id, poll_id, queued_id] {
        let resp = json(
            app.post_json(
                "/api/v1/messages/send-text/",
                &key,
                json!({ "recipient": PEER, "message": "again", "id": id }),
            )
            .await,
            409,
        )
        .await;
        assert_error(&resp, "CONFLICT");
    }
    for bad in ["3eb0c431d5e3a7f1b2c4", "3EB0", "3EB0C431D5E3A7F1B2C4_X"] {
        let resp = json(
            app.post_json(
                "/api/v1/messages/send-text/",
                &key,
                json!({ "recipient": PEER, "message": "bad id", "id": bad }),
            )
            .await,
            400,
        )
        .await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], "id", "{resp}");
    }
    assert_eq!(
        stored_messages(&app, &key).await.len(),
        before,
        "refused requests stored nothing"
    );

    // Racing requests with one new id: the check and the insert are one step, so exactly one is
    // taken and the others are 409.
    let racing_id = "FEDCBA9876543210";
    let requests = (0..6).map(|i| {
        app.post_json(
            "/api/v1/messages/send-text/?async=true",
            &key,
            json!({ "recipient": PEER, "message": format!("race {i}"), "id": racing_id }),
        )
    });
    let mut statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409, 409, 409, 409, 409], "one taken, the rest refused");
    assert_eq!(stored_messages(&app, &key).await.len(), before + 1, "one row");
}
both_backends!(client_chosen_ids_become_whatsapp_ids, client_chosen_ids);
