// next-auth v4 in the App Router: one handler for GET and POST.
import NextAuth from "next-auth";
import type { NextRequest } from "next/server";
import { authOptions } from "../../../../lib/auth";

type Context = { params: Promise<{ nextauth: string[] }> };

function handler(req: NextRequest, context: Context) {
  return NextAuth(req, context, authOptions());
}

export { handler as GET, handler as POST };
