export default function Home() {
  return (
    <main>
      <h1>authbridge + next-auth v4</h1>
      <p>
        next-auth 4 with <code>session: {'{ strategy: "database" }'}</code>; every adapter call is one HTTP request to
        authbridge, which stores the sessions in SQLite or PostgreSQL.
      </p>
      <p>
        <a href="/protected">Go to the protected page</a> (you will be asked to sign in).
      </p>
    </main>
  );
}
