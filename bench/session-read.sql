-- pgbench's half of the comparison: authbridge's getSessionAndUser read (find_stored_with_user in
-- src/models/sessions.rs) of a session that is not due for a slide: one plain SELECT joining the
-- user. run.sh replaces each token placeholder with the SQL that computes a random seeded session's token.
SELECT sessions.id, sessions."sessionToken", sessions."userId", sessions.expires, users.id, users.name, users.email, users."emailVerified", users.image FROM (sessions INNER JOIN users ON (sessions."userId" = users.id)) WHERE ((sessions."sessionToken" = :token) AND (sessions.expires > date_trunc('milliseconds', now() AT TIME ZONE 'UTC'))) LIMIT 1;
