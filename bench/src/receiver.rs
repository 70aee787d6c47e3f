//! A fast webhook receiver on loopback that notes when each delivery arrived.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

type Log = Arc<Mutex<Vec<(Instant, Value)>>>;

pub struct Receiver {
    pub url: String,
    log: Log,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn record(body: web::Bytes, log: web::Data<Log>) -> HttpResponse {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    log.lock().unwrap().push((Instant::now(), v));
    HttpResponse::NoContent().finish()
}

impl Receiver {
    pub async fn start() -> Receiver {
        let log: Log = Arc::default();
        let data = web::Data::new(log.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(record)))
            .workers(2)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            log,
        }
    }

    /// Waits until deliveries stop for `quiet`, then reports how many came and how fast.
    pub async fn drain_rate(&self, quiet: Duration) -> Value {
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let log = self.log.lock().unwrap();
            let last = log.last().map(|l| l.0);
            if last.is_some_and(|l| l.elapsed() >= quiet) || (last.is_none() && started.elapsed() > quiet * 10) {
                break;
            }
        }
        let log = self.log.lock().unwrap();
        let (Some(first), Some(last)) = (log.first(), log.last()) else {
            return json!({ "events": 0 });
        };
        let secs = (last.0 - first.0).as_secs_f64().max(0.001);
        json!({ "events": log.len(), "seconds": secs, "events_per_s": log.len() as f64 / secs })
    }

    /// Whether a `message` event with this body arrived within `limit`.
    pub async fn wait_for_body(&self, body: &str, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self
                .log
                .lock()
                .unwrap()
                .iter()
                .rev()
                .any(|(_, v)| v["event"] == "message" && v["payload"]["body"] == body)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        false
    }
}
