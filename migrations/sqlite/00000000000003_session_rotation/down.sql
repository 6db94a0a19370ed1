DROP INDEX "sessions_previousSessionToken_key";
ALTER TABLE "sessions" DROP COLUMN "previousSessionToken";
ALTER TABLE "sessions" DROP COLUMN "rotatedAt";
