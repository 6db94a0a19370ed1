import type { ReactNode } from "react";

export const metadata = { title: "authbridge + next-auth v4" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", maxWidth: 720, margin: "2rem auto", padding: "0 1rem" }}>
        <nav style={{ display: "flex", gap: "1rem", marginBottom: "1.5rem" }}>
          <a href="/">Home</a>
          <a href="/protected">Protected page</a>
          <a href="/api/auth/signin">Sign in</a>
        </nav>
        {children}
      </body>
    </html>
  );
}
