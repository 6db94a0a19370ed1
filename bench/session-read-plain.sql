-- pgbench's plain read, the database's limit for a session read that writes nothing: the session
-- and its user by token, live sessions only (what authbridge reads when no slide is due). run.sh
-- replaces each token placeholder with the SQL that computes a random seeded session's token.
SELECT s.id, s."sessionToken", s."userId", s.expires, u.id, u.name, u.email, u."emailVerified", u.image FROM sessions s JOIN users u ON u.id = s."userId" WHERE s."sessionToken" = :token AND s.expires > date_trunc('milliseconds', now() AT TIME ZONE 'UTC');
