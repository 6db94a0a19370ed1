ALTER TABLE "sessions" DROP COLUMN "createdAt",
DROP COLUMN "ipAddress",
DROP COLUMN "updatedAt",
DROP COLUMN "userAgent";
