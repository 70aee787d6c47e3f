//! The outbound address policy on media URLs: every redirect hop and every resolved address is
//! checked, on loopback only. 127.0.0.2 is listed in `media.allowed_private_networks` and plays
//! the public host; 127.0.0.1 plays the internal network, which must never receive a request.

use serde_json::{Value, json};

use crate::both_backends;
use crate::common::*;
use crate::receiver::*;
use crate::support::*;

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { files_under(&p) } else { vec![p] }
        })
        .collect()
}

async fn send_url(app: &TestApp, url: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/messages/send-media/",
        &app.admin_key,
        json!({ "recipient": "15550002002", "media_type": "image", "url": url }),
    )
    .await
}

/// Sends `url` and expects 400 VALIDATION_ERROR on `url` whose message contains every `wanted`.
async fn refused(app: &TestApp, url: &str, wanted: &[&str]) -> Value {
    let body = json(send_url(app, url).await, 400).await;
    assert_error(&body, "VALIDATION_ERROR");
    assert_eq!(body["field"], "url", "{body}");
    let message = body["message"].as_str().unwrap();
    for w in wanted {
        assert!(message.contains(w), "{url}: {message:?} should contain {w:?}");
    }
    body
}

async fn media_redirects_are_checked_on_every_hop(backend: Backend) {
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| {
        s.media.allow_private_urls = false;
        s.media.allowed_private_networks = vec!["127.0.0.2/32".parse().unwrap()];
    })
    .await;
    let internal = Receiver::start().await;
    let secret = format!("{}/secret", internal.origin());
    let edge = Receiver::start_at("127.0.0.2", 0).await;
    let at = |path: &str| format!("{}{path}", edge.origin());
    let settings = ["media.allow_private_urls", "media.allowed_private_networks"];

    // 302 and 307 from the allowed host to loopback: refused before connecting, naming the address.
    for status in [302, 307] {
        edge.reply([Reply::redirect(status, &secret)]);
        let mut wanted = vec![secret.as_str(), "127.0.0.1 is a loopback (RFC 1122) address"];
        wanted.extend(settings);
        refused(&app, &at("/start"), &wanted).await;
    }

    // A three-hop chain (one a relative Location) whose last hop is internal.
    edge.reply([
        Reply::redirect(302, &at("/b")),
        Reply::redirect(301, "/c"),
        Reply::redirect(307, &secret),
    ]);
    refused(&app, &at("/a"), &[&secret]).await;
    let paths: Vec<String> = edge.received().iter().map(|r| r.path.clone()).collect();
    assert!(paths.ends_with(&["/a".into(), "/b".into(), "/c".into()]), "{paths:?}");

    // The cloud metadata address: refused without connecting (nothing listens there).
    edge.reply([Reply::redirect(302, "http://169.254.169.254/latest/meta-data/")]);
    refused(
        &app,
        &at("/meta"),
        &["169.254.169.254 is a link-local (RFC 3927) address", settings[0]],
    )
    .await;

    // A name resolving to loopback, after a redirect and as the first URL.
    let by_name = secret.replace("127.0.0.1", "localhost");
    edge.reply([Reply::redirect(302, &by_name)]);
    refused(&app, &at("/named"), &["localhost resolves to", "loopback", settings[1]]).await;
    refused(&app, &by_name, &["localhost resolves to", "loopback"]).await;
    // IP literals in other spellings, as the first URL.
    let port = internal.origin().rsplit(':').next().unwrap().to_string();
    for url in [
        format!("http://[::ffff:127.0.0.1]:{port}/secret"),
        format!("http://2130706433:{port}/secret"),
    ] {
        refused(&app, &url, &["loopback"]).await;
    }

    // Six redirects within the allowed host: the sixth is not followed.
    let before = edge.received().len();
    edge.reply((0..6).map(|i| Reply::redirect(302, &at(&format!("/loop{i}")))));
    refused(&app, &at("/loop"), &["more than 5 redirects"]).await;
    assert_eq!(edge.received().len() - before, 6, "the first request and five hops");

    // Allowed fetches still work (directly, and after five hops): the file is fetched, and the
    // request fails later only because no session is connected.
    let png = png_bytes(500);
    let fetched = |n: usize| edge.received().iter().filter(|r| r.path == "/file.png").count() == n;
    edge.reply([Reply::body(&png)]);
    assert_error(
        &json(send_url(&app, &at("/file.png")).await, 409).await,
        "SESSION_NOT_CONNECTED",
    );
    assert!(fetched(1));
    edge.reply((1..=5).map(|i| Reply::redirect(307, &at(if i == 5 { "/file.png" } else { "/hop" }))));
    edge.reply([Reply::body(&png)]);
    assert_error(
        &json(send_url(&app, &at("/hop")).await, 409).await,
        "SESSION_NOT_CONNECTED",
    );
    assert!(fetched(2), "fetched after five redirects");

    assert!(
        internal.received().is_empty(),
        "the internal server was reached: {:?}",
        internal.received().iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    let media = &app.state.settings.media.dir;
    assert!(files_under(media).is_empty(), "files left: {:?}", files_under(media));
    let stored = json(app.get("/api/v1/messages/", &app.admin_key).await, 200).await;
    assert_eq!(stored["data"]["messages"], json!([]), "{stored}");
}
both_backends!(media_redirects, media_redirects_are_checked_on_every_hop);
