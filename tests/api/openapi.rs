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
        ("get", "/api/v1/sessions/capabilities/"),
        ("get", "/api/v1/sessions/settings/"),
        ("patch", "/api/v1/sessions/settings/"),
        ("post", "/api/v1/calls/{callId}/reject/"),
        ("get", "/api/v1/contacts/lid/{lid}/"),
        ("get", "/api/v1/contacts/phone/{phone}/"),
        ("post", "/api/v1/messages/send-text/"),
        ("post", "/api/v1/messages/send-media/"),
        ("post", "/api/v1/messages/send-location/"),
        ("post", "/api/v1/messages/send-contact/"),
        ("post", "/api/v1/messages/send-poll/"),
        ("get", "/api/v1/messages/{id}/votes/"),
        ("post", "/api/v1/messages/{id}/reaction/"),
        ("post", "/api/v1/messages/{id}/forward/"),
        ("patch", "/api/v1/messages/{id}/"),
        ("delete", "/api/v1/messages/{id}/"),
        ("get", "/api/v1/messages/"),
        ("get", "/api/v1/messages/{id}/"),
        ("get", "/api/v1/contacts/check/"),
        ("post", "/api/v1/chats/{chatId}/read/"),
        ("post", "/api/v1/chats/{chatId}/presence/"),
        ("post", "/api/v1/chats/{chatId}/presence/subscribe/"),
        ("get", "/api/v1/chats/{chatId}/presence/"),
        ("get", "/api/v1/chats/"),
        ("get", "/api/v1/chats/{chatId}/messages/"),
        ("get", "/api/v1/contacts/"),
        ("get", "/api/v1/contacts/{id}/"),
        ("post", "/api/v1/contacts/{id}/block/"),
        ("delete", "/api/v1/contacts/{id}/block/"),
        ("post", "/api/v1/groups/"),
        ("get", "/api/v1/groups/"),
        ("get", "/api/v1/groups/{groupId}/"),
        ("patch", "/api/v1/groups/{groupId}/"),
        ("post", "/api/v1/groups/{groupId}/participants/"),
        ("get", "/api/v1/groups/{groupId}/invite/"),
        ("delete", "/api/v1/groups/{groupId}/invite/"),
        ("post", "/api/v1/groups/{groupId}/leave/"),
        ("put", "/api/v1/groups/{groupId}/picture/"),
        ("delete", "/api/v1/groups/{groupId}/picture/"),
        ("post", "/api/v1/groups/join/"),
        ("get", "/api/v1/messages/{id}/media"),
        ("get", "/api/v1/webhook/"),
        ("put", "/api/v1/webhook/"),
        ("delete", "/api/v1/webhook/"),
        ("post", "/api/v1/webhook/test/"),
        ("get", "/api/v1/webhook/deliveries/"),
        ("post", "/api/v1/webhook/deliveries/{id}/replay/"),
        ("get", "/api/v1/events/stream"),
        ("get", "/api/v1/cluster/"),
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

/// Enough of a contract to test a client against: unique operationIds, a request schema for
/// every body, a schema for every JSON answer, the error envelope on every error, 401/429/503 on
/// every authenticated operation, `?async` and `Idempotency-Key` on the sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_has_its_schemas_and_statuses() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = json(app.http.get(app.url("/api/openapi.json")).send().await.unwrap(), 200).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let error_body = &schemas["ErrorBody"];
    for field in ["success", "message", "error", "error_code"] {
        assert!(
            error_body["required"].as_array().unwrap().contains(&field.into()),
            "ErrorBody requires {field}: {error_body}"
        );
    }

    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no operationId"));
            assert!(ids.insert(id.to_string()), "{name}: operationId {id} used twice");
            if let Some(body) = op.get("requestBody") {
                for (media, content) in body["content"].as_object().unwrap() {
                    assert!(content["schema"].is_object(), "{name}: {media} body without a schema");
                }
            }
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                let content = response["content"].as_object();
                let content = content.unwrap_or_else(|| panic!("{name} {status}: no content"));
                for (media, c) in content {
                    assert!(c["schema"].is_object(), "{name} {status} {media}: no schema");
                }
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &content["application/json"]["schema"];
                    let envelope = schema["$ref"] == "#/components/schemas/ErrorBody"
                        || (path == "/health" && schema["$ref"] == "#/components/schemas/Health");
                    assert!(envelope, "{name} {status}: not the error envelope: {schema}");
                }
            }
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                for status in ["400", "401", "429", "503"] {
                    assert!(responses.contains_key(status), "{name}: {status} undocumented");
                }
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("413"), "{name}: 413 undocumented");
            }
        }
    }
    assert_eq!(ids.len(), 63);

    for path in [
        "/api/v1/messages/send-text/",
        "/api/v1/messages/send-media/",
        "/api/v1/messages/send-location/",
        "/api/v1/messages/send-contact/",
        "/api/v1/messages/send-poll/",
        "/api/v1/messages/{id}/reaction/",
        "/api/v1/messages/{id}/forward/",
    ] {
        let op = &doc["paths"][path]["post"];
        let params = op["parameters"].as_array().unwrap();
        let has = |name: &str, place: &str| params.iter().any(|p| p["name"] == name && p["in"] == place);
        assert!(
            has("async", "query") && has("Idempotency-Key", "header"),
            "{path}: {params:?}"
        );
        for status in ["200", "202", "400", "409", "422", "502", "503", "504"] {
            assert!(op["responses"].get(status).is_some(), "{path}: {status} undocumented");
        }
    }
    let media = &doc["paths"]["/api/v1/messages/send-media/"]["post"]["requestBody"]["content"];
    assert!(media["multipart/form-data"].is_object() && media["application/json"].is_object());
}
