//! Written by hand for both backends: never regenerate it from SQLite (it would map ids as Integer).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Nullable<Text>,
        is_admin -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        user_id -> BigInt,
        key_id -> Text,
        secret_hash -> Text,
        label -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        scopes -> Nullable<Text>,
        sessions -> Nullable<Text>,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    whatsapp_sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        wid -> Nullable<Text>,
        push_name -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        connected_at -> Nullable<Timestamp>,
        ack_timeouts -> BigInt,
        reject_calls -> Bool,
        call_reply_text -> Nullable<Text>,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        user_id -> BigInt,
        session_id -> Nullable<BigInt>,
        direction -> Text,
        chat_id -> Text,
        sender -> Nullable<Text>,
        msg_type -> Text,
        body -> Nullable<Text>,
        caption -> Nullable<Text>,
        media_path -> Nullable<Text>,
        media_mime -> Nullable<Text>,
        media_filename -> Nullable<Text>,
        media_size -> Nullable<BigInt>,
        status -> Text,
        error_message -> Nullable<Text>,
        wa_message_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        idempotency_key -> Nullable<Text>,
        sender_phone -> Nullable<Text>,
        error_code -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        media_deleted_at -> Nullable<Timestamp>,
        wa_key_id -> Nullable<Text>,
        idempotency_fingerprint -> Nullable<Text>,
        chat_phone -> Nullable<Text>,
        mark_read -> Bool,
        details -> Nullable<Text>,
        edited_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(whatsapp_sessions -> users (user_id));
diesel::joinable!(messages -> users (user_id));
diesel::joinable!(messages -> whatsapp_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(users, api_keys, whatsapp_sessions, messages);

diesel::table! {
    session_events (id) {
        id -> BigInt,
        session_id -> BigInt,
        state -> Text,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(session_events -> whatsapp_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(session_events, whatsapp_sessions);

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        user_id -> BigInt,
        url -> Text,
        secret -> Text,
        events -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        uid -> Text,
        user_id -> BigInt,
        session_id -> Nullable<BigInt>,
        event -> Text,
        body -> Text,
        created_at -> Timestamp,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        event_id -> BigInt,
        attempt -> Integer,
        url -> Text,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        latency_ms -> Integer,
        created_at -> Timestamp,
    }
}

diesel::joinable!(webhook_deliveries -> events (event_id));
diesel::allow_tables_to_appear_in_same_query!(events, webhook_deliveries);

diesel::table! {
    lid_map (id) {
        id -> BigInt,
        user_id -> BigInt,
        session_id -> BigInt,
        lid -> Text,
        phone -> Text,
        first_seen_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(lid_map -> whatsapp_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(lid_map, whatsapp_sessions);

diesel::table! {
    presence_subscriptions (session_id, chat_id) {
        session_id -> BigInt,
        chat_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(presence_subscriptions -> whatsapp_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(presence_subscriptions, whatsapp_sessions);
