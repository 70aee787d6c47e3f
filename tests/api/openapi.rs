use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = json(app.http.get(app.url("/api/openapi.json")).send().await.unwrap(), 200).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let routes = [
        ("get", "/health"),
        ("get", "/metrics"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/apikeys/"),
        ("post", "/api/v1/apikeys/"),
        ("delete", "/api/v1/apikeys/{id}/"),
        ("post", "/api/v1/sessions/init/"),
        ("get", "/api/v1/sessions/status/"),
        ("get", "/api/v1/sessions/qr/"),
        ("post", "/api/v1/sessions/logout/"),
        ("post", "/api/v1/sessions/restart/"),
        ("delete", "/api/v1/sessions/"),
        ("get", "/api/v1/sessions/"),
        ("get", "/api/v1/sessions/events/"),
        ("post", "/api/v1/messages/send-text/"),
        ("post", "/api/v1/messages/send-media/"),
        ("get", "/api/v1/messages/"),
        ("get", "/api/v1/messages/{id}/"),
        ("get", "/api/v1/contacts/check/"),
        ("get", "/api/v1/messages/{id}/media"),
        ("get", "/api/v1/webhook/"),
        ("put", "/api/v1/webhook/"),
        ("delete", "/api/v1/webhook/"),
        ("post", "/api/v1/webhook/test/"),
        ("get", "/api/v1/webhook/deliveries/"),
        ("post", "/api/v1/webhook/deliveries/{id}/replay/"),
        ("get", "/api/v1/events/stream"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in routes {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, routes.len(), "every documented route is one the test knows");
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());

    let docs = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"), "Swagger UI page");
}
