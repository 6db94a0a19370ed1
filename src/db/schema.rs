//! The five Auth.js tables exactly as Prisma creates them from `prisma/schema.prisma`
//! (`@@map` table names, Prisma field names as column names).
//!
//! `DateTime` columns are declared as `Timestamp`; the Rust side always goes through
//! [`crate::db::time::DbTime`], which knows how each backend stores Prisma's `DateTime`.

diesel::table! {
    users (id) {
        id -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        #[sql_name = "emailVerified"]
        email_verified -> Nullable<Timestamp>,
        image -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        #[sql_name = "sessionToken"]
        session_token -> Text,
        #[sql_name = "userId"]
        user_id -> Text,
        expires -> Timestamp,
        // Optional: only some schemas have them (see `tables::SESSIONS`), so no query may name
        // them unless start-up found them, and nothing selects the whole table.
        #[sql_name = "createdAt"]
        created_at -> Nullable<Timestamp>,
        #[sql_name = "ipAddress"]
        ip_address -> Nullable<Text>,
        #[sql_name = "updatedAt"]
        updated_at -> Nullable<Timestamp>,
        #[sql_name = "userAgent"]
        user_agent -> Nullable<Text>,
        #[sql_name = "previousSessionToken"]
        previous_session_token -> Nullable<Text>,
        #[sql_name = "rotatedAt"]
        rotated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        #[sql_name = "userId"]
        user_id -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        provider -> Text,
        #[sql_name = "providerAccountId"]
        provider_account_id -> Text,
        refresh_token -> Nullable<Text>,
        access_token -> Nullable<Text>,
        expires_at -> Nullable<Integer>,
        token_type -> Nullable<Text>,
        scope -> Nullable<Text>,
        id_token -> Nullable<Text>,
        session_state -> Nullable<Text>,
    }
}

diesel::table! {
    // Prisma gives this table no primary key, only the unique index
    // `verification_tokens_identifier_token_key`; diesel needs a key, and that pair is one.
    verification_tokens (identifier, token) {
        identifier -> Text,
        token -> Text,
        expires -> Timestamp,
    }
}

diesel::table! {
    authenticators (user_id, credential_id) {
        #[sql_name = "credentialID"]
        credential_id -> Text,
        #[sql_name = "userId"]
        user_id -> Text,
        #[sql_name = "providerAccountId"]
        provider_account_id -> Text,
        #[sql_name = "credentialPublicKey"]
        credential_public_key -> Text,
        counter -> Integer,
        #[sql_name = "credentialDeviceType"]
        credential_device_type -> Text,
        #[sql_name = "credentialBackedUp"]
        credential_backed_up -> Bool,
        transports -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(accounts -> users (user_id));
diesel::joinable!(authenticators -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(users, sessions, accounts, verification_tokens, authenticators);
