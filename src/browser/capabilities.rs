//! What each session's Chromium is started with.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::config::BrowserSettings;

/// Flags every browser gets. Without the background-networking ones Chromium keeps calling home,
/// which a closed network refuses many times a second.
const BASE_FLAGS: &[&str] = &[
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--disable-notifications",
    "--mute-audio",
    "--password-store=basic",
    // What WhatsApp Web's reference client does to hide `navigator.webdriver` (§1.2).
    "--disable-blink-features=AutomationControlled",
    // A backgrounded tab's timers are throttled: WhatsApp Web would poll its socket slowly.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
];

/// W3C capabilities for one session's browser using `profile` as its `--user-data-dir`.
pub fn capabilities(b: &BrowserSettings, profile: &Path) -> Map<String, Value> {
    let mut args: Vec<String> = Vec::new();
    if b.headless {
        args.push("--headless=new".into());
    }
    args.extend(BASE_FLAGS.iter().map(|s| s.to_string()));
    args.push(format!("--window-size={},{}", b.window_width, b.window_height));
    args.push(format!("--user-agent={}", b.user_agent));
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(b.extra_args.iter().cloned());

    let mut chrome = json!({
        "args": args,
        "excludeSwitches": ["enable-automation"],
    });
    if !b.chromium_path.as_os_str().is_empty() {
        chrome["binary"] = json!(b.chromium_path.display().to_string());
    }
    let mut caps = Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), chrome);
    // Return from navigation at DOMContentLoaded; readiness is `window.Debug.VERSION`, polled.
    caps.insert("pageLoadStrategy".into(), json!("eager"));
    // WebDriver BiDi next to classic WebDriver: the page's events are pushed (browser::bidi).
    caps.insert("webSocketUrl".into(), json!(true));
    caps.insert(
        "timeouts".into(),
        json!({ "script": 180_000, "pageLoad": 60_000, "implicit": 0 }),
    );
    caps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn flags_and_profile() {
        let mut s = Settings::defaults().unwrap().browser;
        s.extra_args = vec!["--lang=en".into()];
        let caps = capabilities(&s, Path::new("/d/sessions/7/profile"));
        let args: Vec<String> = serde_json::from_value(caps["goog:chromeOptions"]["args"].clone()).unwrap();
        for want in [
            "--headless=new",
            "--no-sandbox",
            "--disable-blink-features=AutomationControlled",
            "--lang=en",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} missing in {args:?}");
        }
        assert!(args.contains(&"--user-data-dir=/d/sessions/7/profile".to_string()));
        let ua = args.iter().find(|a| a.starts_with("--user-agent=")).unwrap();
        assert!(!ua.contains("HeadlessChrome"), "{ua}");
        s.headless = false;
        let caps = capabilities(&s, Path::new("/p"));
        assert!(!caps["goog:chromeOptions"]["args"].to_string().contains("--headless"));
    }
}
