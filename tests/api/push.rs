//! Page events are pushed (WebDriver BiDi), not polled: after a quiet spell an incoming message is
//! stored at once, although the page is otherwise drained only every 30 s.

use std::time::{Duration, Instant};

use wagate_sim::IncomingMessage;

use crate::common::*;
use crate::support::*;

/// A gateway on `sim` whose poll fallback is far too slow (60 s) to pass for push: without BiDi
/// the tests below fail.
async fn push_only_app(sim: &wagate_sim::Simulator, more: impl FnOnce(&mut wagate::config::Settings)) -> TestApp {
    TestApp::spawn_with(TestEnv::new(Backend::Sqlite).await, |s| {
        point_at(s, sim);
        s.sessions.poll_max_ms = 60_000;
        more(s);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_messages_are_pushed_after_a_quiet_spell() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = push_only_app(&sim, |_| {}).await;
    app.link(&sim, &app.admin_key.clone(), "default", "15550001601").await;
    let mut latencies = Vec::new();
    for i in 0..3 {
        // Quiet: no poll is due for tens of seconds now.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let started = Instant::now();
        sim.control()
            .deliver(
                "15550001601",
                IncomingMessage::text("15550003006@c.us", &format!("pushed {i}")),
            )
            .await
            .unwrap();
        loop {
            let listed = json(app.get("/api/v1/messages/?direction=in", &app.admin_key).await, 200).await;
            if listed["data"]["messages"].as_array().unwrap().len() > i {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "message {i} was not pushed: it would wait for the 30 s safety poll"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(started.elapsed());
    }
    eprintln!("incoming after 3 s of quiet → stored: {latencies:?}");
}

/// The BiDi WebSocket (and every other connection to chromedriver) is cut while incoming messages
/// and acks flow: each message is stored and announced exactly once, each ack moves its row once,
/// and push works again afterwards (the poll fallback is set far too slow to pass for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_lost_websocket_exactly_once() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = push_only_app(&sim, |s| s.server.metrics_token = "push-metrics-token".into()).await;
    let reconnects = async || {
        let text = app
            .http
            .get(app.url("/metrics"))
            .bearer_auth("push-metrics-token")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("wagate_bidi_reconnects_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let reconnects_before = reconnects().await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", "15550001602").await;
    let driver = app.state.sessions.driver().url().await.unwrap();
    let port = url::Url::parse(&driver).unwrap().port().unwrap();

    let control = sim.control();
    let mut incoming = Vec::new();
    let mut sent_ids = Vec::new();
    for i in 0..16 {
        let body = format!("across the cut {i}");
        control
            .deliver("15550001602", IncomingMessage::text("15550003008@c.us", &body))
            .await
            .unwrap();
        incoming.push(body);
        if i % 4 == 1 {
            let resp = app
                .post_json(
                    "/api/v1/messages/send-text/?async=true",
                    &key,
                    serde_json::json!({ "recipient": "15550002002", "message": format!("out {i}") }),
                )
                .await;
            sent_ids.push(json(resp, 202).await["data"]["dbId"].as_i64().unwrap());
        }
        if i == 5 {
            // Cuts this gateway's connections to its chromedriver, the BiDi WebSocket among them.
            let out = std::process::Command::new("ss")
                .args(["-K", "dst", "127.0.0.1", "dport", "=", &port.to_string()])
                .output()
                .expect("ss (iproute2) runs");
            assert!(out.status.success(), "ss -K: {}", String::from_utf8_lossy(&out.stderr));
            let cut = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains("ESTAB"))
                .count();
            assert!(
                cut >= 1,
                "a connection to chromedriver was cut: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
    }

    // Every incoming message stored once, every send acked to `read`.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = json(app.get("/api/v1/messages/?direction=in&limit=100", &key).await, 200).await;
        let stored = listed["data"]["messages"].as_array().unwrap().len();
        let mut read = 0;
        for id in &sent_ids {
            let m = json(app.get(&format!("/api/v1/messages/{id}/"), &key).await, 200).await;
            read += usize::from(m["data"]["status"] == "read");
        }
        if stored >= incoming.len() && read == sent_ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the cut: {stored}/{} incoming stored, {read}/{} sends read",
            incoming.len(),
            sent_ids.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = app.state.db.events_after(1, 0, 1000).await.unwrap();
    let payloads: Vec<(String, serde_json::Value)> = events
        .iter()
        .map(|e| {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
            (e.event.clone(), body["payload"].clone())
        })
        .collect();
    for body in &incoming {
        let n = payloads
            .iter()
            .filter(|(kind, p)| kind == "message" && p["body"] == body.as_str() && p["fromMe"] == false)
            .count();
        assert_eq!(n, 1, "{body:?} announced {n} times");
    }
    for id in &sent_ids {
        let mut statuses: Vec<String> = payloads
            .iter()
            .filter(|(kind, p)| kind == "message.ack" && p["dbId"] == *id)
            .map(|(_, p)| p["status"].as_str().unwrap_or_default().to_string())
            .collect();
        let all = statuses.clone();
        statuses.dedup();
        assert_eq!(statuses, all, "message {id}: an ack announced twice");
        assert_eq!(all.last().map(String::as_str), Some("read"), "message {id}: {all:?}");
    }

    // Push is back: after a quiet spell a message is stored long before the (60 s) poll.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    control
        .deliver(
            "15550001602",
            IncomingMessage::text("15550003008@c.us", "after the cut"),
        )
        .await
        .unwrap();
    loop {
        let listed = json(app.get("/api/v1/messages/?direction=in&limit=100", &key).await, 200).await;
        if listed["data"]["messages"].as_array().unwrap().len() > incoming.len() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not pushed after the cut: the WebSocket was not reconnected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("pushed again after the cut in {:?}", started.elapsed());
    assert!(
        reconnects().await > reconnects_before,
        "the BiDi WebSocket was cut and connected again"
    );
}

/// WhatsApp's connection drops and comes back within the same document (TIMEOUT, then
/// CONNECTED): the session is `connected` again at once, not after the 30 s safety poll (the page
/// raises no new `synced` event: it synced before, and the drain's snapshot says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_within_the_document_is_connected_at_once() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = push_only_app(&sim, |_| {}).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", "15550001603").await;
    let status = async || {
        let v = json(app.get("/api/v1/sessions/status/?session=default", &key).await, 200).await;
        v["data"]["status"].as_str().unwrap_or_default().to_string()
    };
    for (state, want_connected) in [("TIMEOUT", false), ("CONNECTED", true)] {
        sim.control().force_state("15550001603", state).await.unwrap();
        let started = Instant::now();
        loop {
            let now = status().await;
            if (now == "connected") == want_connected {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "after {state} the session still reads {now}: it waited for the 30 s safety poll"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("{state}: status changed after {:?}", started.elapsed());
    }
}

/// A call into the page goes over the session's BiDi WebSocket (`script.callFunction`), as the
/// gateway's page calls do: its answer, an exception thrown in the page, a promise awaited; a
/// typed bridge call through a `Page` whose classic WebDriver client is another browser (where it
/// would find no bridge) answers from the BiDi page; once that WebSocket is closed, calls are not
/// sent on it and go over classic WebDriver instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_calls_go_over_the_bidi_websocket() {
    use wagate::browser::bidi::{self, CallError};
    use wagate::browser::protocol::Request;
    use wagate::browser::{BridgeError, Install, Page};
    let _b = browsers(2).await;
    let sim = simulator().await;
    let app = push_only_app(&sim, |_| {}).await;
    let settings = app.env.settings();
    let driver = app.state.sessions.driver().url().await.unwrap();
    let profiles = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut clients = Vec::new();
    for profile in &profiles {
        let caps = wagate::browser::capabilities::capabilities(&settings.browser, profile.path());
        let client = fantoccini::ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&driver)
            .await
            .expect("a browser");
        clients.push(client);
    }
    let (bidi_side, other) = (clients[0].clone(), clients[1].clone());
    let ws_url = bidi::websocket_url(&bidi_side).expect("chromedriver speaks BiDi");
    let window = String::from(bidi_side.window().await.unwrap());
    let bell = bidi::connect(&ws_url, &window).await.unwrap();
    bidi_side.goto(&sim.base_url()).await.unwrap();
    let script = bell.script();

    let href = script
        .call("(a) => a + ' ' + location.href", "at".into())
        .await
        .unwrap();
    assert_eq!(href, format!("at {}", bidi_side.current_url().await.unwrap()));
    let awaited = script
        .call(
            "async (a) => { await new Promise((r) => setTimeout(r, 50)); return a.toUpperCase(); }",
            "later".into(),
        )
        .await
        .unwrap();
    assert_eq!(awaited, "LATER");
    match script
        .call("(a) => { throw new Error('boom ' + a); }", "x".into())
        .await
    {
        Err(CallError::Failed(e)) => assert!(e.contains("boom x"), "{e}"),
        other => panic!("a page exception is a failed call: {other:?}"),
    }

    // The bridge is installed in the BiDi side's page only.
    let installer = Page::new(bidi_side.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while installer
        .install(Instant::now() > deadline - Duration::from_secs(10))
        .await
        .unwrap()
        != Install::Installed
    {
        assert!(Instant::now() < deadline, "the bridge did not install");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let routed = Page::new(other.clone());
    let capabilities = async |page: &Page| {
        page.request::<serde_json::Value>(&Request::Capabilities, Duration::from_secs(10))
            .await
    };
    let bridge_missing = |r: Result<serde_json::Value, BridgeError>| matches!(r, Err(BridgeError::Page { ref code, .. }) if code == "BRIDGE_MISSING");
    assert!(
        bridge_missing(capabilities(&routed).await),
        "classic WebDriver reaches the other browser"
    );
    routed.use_bidi(Some(script.clone()));
    let report = capabilities(&routed)
        .await
        .expect("over BiDi, the bridge's page answers");
    assert!(report.is_object(), "{report}");

    bidi_side.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !script.is_closed() {
        assert!(
            Instant::now() < deadline,
            "the session ended and its WebSocket stayed open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(
        script.call("(a) => a", "x".into()).await,
        Err(CallError::NotSent(_))
    ));
    assert!(
        bridge_missing(capabilities(&routed).await),
        "with its WebSocket closed, the call went over classic WebDriver"
    );
    other.close().await.unwrap();
    drop(bell);
}
