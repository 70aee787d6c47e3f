//! `BENCH_MODE=uploads`: the gateway's resident memory (RSS) before, at its peak during and 5 s
//! after concurrent large uploads (no session needed: a file is read, stored and checked before
//! the send answers 409). Env: `BENCH_UPLOADS` (default 8), `BENCH_UPLOAD_MIB` (default 14).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::{Gateway, rss_kb};

async fn one_round(g: &Gateway, n: usize, bytes: &[u8], json_body: bool) -> Value {
    let http = reqwest::Client::new();
    let pid = g.child.id();
    let before = rss_kb(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kb(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let started = Instant::now();
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let uploads = (0..n).map(|i| {
        let (http, url, key) = (http.clone(), format!("{}/api/v1/messages/send-media/", g.base), g.key.clone());
        let (bytes, b64) = (bytes.to_vec(), b64.clone());
        async move {
            let req = http.post(url).header("Authorization", format!("ApiKey {key}"));
            let req = if json_body {
                req.json(&json!({"recipient": "15550002002", "media_type": "document", "filename": format!("f{i}.pdf"), "base64": b64}))
            } else {
                let form = reqwest::multipart::Form::new()
                    .text("recipient", "15550002002")
                    .text("media_type", "document")
                    .part("file", reqwest::multipart::Part::bytes(bytes).file_name(format!("f{i}.pdf")));
                req.multipart(form)
            };
            match req.send().await {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) => format!("error: {e:?}"),
            }
        }
    });
    let statuses = futures_util::future::join_all(uploads).await;
    let took = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = rss_kb(pid);
    json!({
        "body": if json_body { "json-base64" } else { "multipart" },
        "uploads": n,
        "statuses": statuses,
        "seconds": took.as_secs_f64(),
        "rss_mib": {
            "before": before / 1024,
            "peak": peak.load(std::sync::atomic::Ordering::Relaxed) / 1024,
            "after_5s": after / 1024,
        },
    })
}

pub async fn run(g: &Gateway) -> Value {
    let n: usize = crate::env_or("BENCH_UPLOADS", 8);
    let mib: usize = crate::env_or("BENCH_UPLOAD_MIB", 14);
    let bytes: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..mib * 1024 * 1024).map(|i| (i % 251) as u8))
        .take(mib * 1024 * 1024)
        .collect();
    let multipart = one_round(g, n, &bytes, false).await;
    println!("{n} concurrent {mib} MiB multipart uploads: {multipart}");
    let json_rounds = one_round(g, n, &bytes, true).await;
    println!("{n} concurrent {mib} MiB JSON base64 uploads: {json_rounds}");
    json!({ "multipart": multipart, "json": json_rounds })
}
