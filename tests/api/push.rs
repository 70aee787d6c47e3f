//! Page events are pushed (WebDriver BiDi), not polled: after a quiet spell an incoming message is
//! stored at once, although the page is otherwise drained only every 30 s.

use std::time::{Duration, Instant};

use wagate_sim::IncomingMessage;

use crate::common::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_messages_are_pushed_after_a_quiet_spell() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(Backend::Sqlite).await, |s| point_at(s, &sim)).await;
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
