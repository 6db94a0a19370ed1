-- AlterTable
ALTER TABLE "sessions" ADD COLUMN "previousSessionToken" TEXT;
ALTER TABLE "sessions" ADD COLUMN "rotatedAt" DATETIME;

-- CreateIndex
CREATE UNIQUE INDEX "sessions_previousSessionToken_key" ON "sessions"("previousSessionToken");

