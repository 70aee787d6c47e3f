//! A webhook receiver on loopback: records every request and answers from a script (status codes,
//! or whole replies with a `Location` and a body). It also serves as a file or redirecting server
//! for media URLs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub event_id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub answered: u16,
}

impl Received {
    /// The body as JSON; `Null` for a request that is no delivery (an empty GET, say). Tests run
    /// in parallel, and a port freed by one test's receiver can be bound by another's while the
    /// first test's gateway still retries there: scans over `received()` must not panic on it.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            location: None,
            body: b"scripted".to_vec(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply {
            location: Some(location.to_string()),
            ..Reply::status(status)
        }
    }

    pub fn body(bytes: &[u8]) -> Reply {
        Reply {
            body: bytes.to_vec(),
            ..Reply::status(200)
        }
    }
}

#[derive(Default)]
struct Shared {
    got: Vec<Received>,
    script: VecDeque<Reply>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    handle: actix_web::dev::ServerHandle,
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn record(req: HttpRequest, body: web::Bytes, shared: web::Data<Arc<Mutex<Shared>>>) -> HttpResponse {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut s = shared.lock().unwrap();
    let reply = s.script.pop_front().unwrap_or_else(|| Reply::status(200));
    s.got.push(Received {
        path: req.path().to_string(),
        event_id: header("X-Wagate-Event-Id"),
        timestamp: header("X-Wagate-Timestamp"),
        signature: header("X-Wagate-Signature"),
        body: body.to_vec(),
        answered: reply.status,
    });
    let mut resp = HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
    if let Some(l) = reply.location {
        resp.insert_header(("Location", l));
    }
    resp.body(reply.body)
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> Receiver {
        Self::start_at("127.0.0.1", port).await
    }

    /// Listens on `ip` (a loopback address: 127.0.0.2 is "another host" for the address policy).
    pub async fn start_at(ip: &str, port: u16) -> Receiver {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let data = web::Data::new(shared.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(record)))
            .workers(1)
            .disable_signals()
            .bind((ip, port))
            .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://{ip}:{port}/hook"),
            shared,
            handle,
        }
    }

    /// The next requests are answered with these codes, then 200.
    pub fn answer(&self, codes: &[u16]) {
        self.reply(codes.iter().map(|c| Reply::status(*c)));
    }

    /// The next requests get these replies, then 200.
    pub fn reply(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().unwrap().script.extend(replies);
    }

    /// `http://<ip>:<port>` of this receiver, for building other paths.
    pub fn origin(&self) -> String {
        self.url.trim_end_matches("/hook").to_string()
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().got.clone()
    }

    /// Waits until `pred` holds over what arrived (panics after `secs`).
    pub async fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received();
            if pred(&got) {
                return got;
            }
            if Instant::now() > deadline {
                let events: Vec<String> = got
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                    .collect();
                panic!("webhook receiver: {what} not seen within {secs} s; got {events:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
