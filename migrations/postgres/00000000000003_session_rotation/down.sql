DROP INDEX "sessions_previousSessionToken_key";
ALTER TABLE "sessions" DROP COLUMN "previousSessionToken",
DROP COLUMN "rotatedAt";
