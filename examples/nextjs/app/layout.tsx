import type { ReactNode } from "react";
import "./style.css";

export const metadata = { title: "authbridge × Next.js" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <nav>
          <strong>authbridge × Next.js</strong>
          <a href="/">Home</a>
          <a href="/protected">Protected</a>
          <a href="/devices">Your devices</a>
        </nav>
        <main>{children}</main>
      </body>
    </html>
  );
}
