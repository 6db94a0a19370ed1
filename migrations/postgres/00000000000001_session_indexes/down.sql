DROP INDEX "sessions_expires_idx";
DROP INDEX "sessions_userId_idx";
