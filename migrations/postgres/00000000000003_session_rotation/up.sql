-- AlterTable
ALTER TABLE "sessions" ADD COLUMN     "previousSessionToken" TEXT,
ADD COLUMN     "rotatedAt" TIMESTAMP(3);

-- CreateIndex
CREATE UNIQUE INDEX "sessions_previousSessionToken_key" ON "sessions"("previousSessionToken");

